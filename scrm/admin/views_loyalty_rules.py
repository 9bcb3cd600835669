"""Loyalty rules in the admin: earning rules with caps (account-wide and per dealer), points validity."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from werkzeug.wrappers import Response
from wtforms import BooleanField, StringField

from scrm.admin import nav
from scrm.admin.auth import client_ip
from scrm.admin.forms import AdminForm, parse_int
from scrm.admin.helpers import http_for
from scrm.admin.scoping import current_scope, current_staff
from scrm.models import EarningRule, Trigger
from scrm.services import loyalty_earning  # noqa: F401  (registers the earning subscribers)
from scrm.services import loyalty_rules_admin as svc
from scrm.services.errors import DomainError, Forbidden, NotFound
from scrm.services.scope import Perm, Scope
from scrm.services.validation import FormInvalid

bp = Blueprint("loyalty_rules", __name__, url_prefix="/loyalty/rules")
nav.add_group("loyalty", "Loyalty & club", 27)
nav.add_item(nav.NavItem("loyalty", "admin.loyalty_rules.index", "Earning rules", order=30, perm=Perm.LOYALTY_RULES,
                         active_prefixes=("admin.loyalty_rules.",)))

TRIGGER_LABELS = {
    Trigger.CHECKIN: lazy_gettext("Daily check-in"),
    Trigger.STREAK_BONUS: lazy_gettext("Check-in streak bonus"),
    Trigger.BINDING: lazy_gettext("Binding to a customer record"),
    Trigger.BOOKING_COMPLETED: lazy_gettext("Completed service visit"),
    Trigger.REPAIR_ORDER: lazy_gettext("Repair order amount"),
    Trigger.EVENT_ATTENDED: lazy_gettext("Club event attendance"),
    Trigger.BIRTHDAY: lazy_gettext("Birthday"),
    Trigger.PROFILE_COMPLETED: lazy_gettext("Complete profile"),
    Trigger.REFERRAL_BIND: lazy_gettext("Referral: the friend binds"),
    Trigger.REFERRAL_TEST_DRIVE: lazy_gettext("Referral: the friend's test drive"),
    Trigger.REFERRAL_PURCHASE: lazy_gettext("Referral: the friend buys a car"),
}
TRIGGER_HELP = {
    Trigger.CHECKIN: lazy_gettext("Once per member and day."),
    Trigger.STREAK_BONUS: lazy_gettext("Each time a check-in streak reaches a multiple of the streak days."),
    Trigger.BINDING: lazy_gettext("Once per member and dealer: binding again pays nothing."),
    Trigger.BOOKING_COMPLETED: lazy_gettext("Maintenance, repair and bodywork visits; test drives pay nothing."),
    Trigger.REPAIR_ORDER: lazy_gettext("Points for every full amount of yuan on a new repair order."),
    Trigger.EVENT_ATTENDED: lazy_gettext("When staff mark a member present at a club event."),
    Trigger.BIRTHDAY: lazy_gettext("Once a year on the customer's birthday (29 February: on 28 February)."),
    Trigger.PROFILE_COMPLETED: lazy_gettext("Once per member: name, mobile, birthday, city and a vehicle."),
    Trigger.REFERRAL_BIND: lazy_gettext("To the member who invited a friend, when the friend binds."),
    Trigger.REFERRAL_TEST_DRIVE: lazy_gettext("To the member who invited a friend, after the friend's test drive."),
    Trigger.REFERRAL_PURCHASE: lazy_gettext("To the member who invited a friend, when the friend buys a car."),
}


class RuleForm(AdminForm):
    points = StringField("Points")
    per_amount = StringField("Per amount")
    daily_cap = StringField("Daily cap")
    monthly_cap = StringField("Monthly cap")
    streak_days = StringField("Streak days")
    active = BooleanField("Active")

    def fill(self, rule: EarningRule | None) -> None:
        """Show `rule`'s values (a new rule starts active with no caps)."""
        self.active.data = True if rule is None else rule.active
        if rule is None:
            return
        self.points.data = str(rule.points)
        self.per_amount.data = "" if rule.per_amount is None else str(rule.per_amount)
        self.daily_cap.data = "" if rule.daily_cap is None else str(rule.daily_cap)
        self.monthly_cap.data = "" if rule.monthly_cap is None else str(rule.monthly_cap)
        self.streak_days.data = str((rule.params or {}).get("days", ""))

    def to_input(self) -> svc.RuleInput:
        """The submitted values for the service."""
        return svc.RuleInput(points=self.points.data or "", per_amount=self.per_amount.data or "",
                             daily_cap=self.daily_cap.data or "", monthly_cap=self.monthly_cap.data or "",
                             streak_days=self.streak_days.data or "", active=bool(self.active.data))


class SettingsForm(AdminForm):
    valid_months = StringField("Validity")
    expiry_warning_days = StringField("Warning")


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {"TRIGGER_LABELS": TRIGGER_LABELS, "TRIGGER_HELP": TRIGGER_HELP}


def _dealer(scope: Scope, raw: str | None) -> int | None:
    """The dealer whose rules are shown: a manager's own; for a brand admin the one picked (None: account)."""
    dealer_id = parse_int(raw)
    if not scope.all_dealers:
        if dealer_id not in (None, 0, scope.dealer_id):
            http_for(NotFound())
        return scope.dealer_id
    if dealer_id is None or dealer_id == 0:
        return None
    try:
        svc.dealer_in_scope(scope, dealer_id)
    except NotFound as exc:
        http_for(exc)
    return dealer_id


def _trigger(raw: str | None) -> Trigger:
    try:
        return svc.trigger_of(raw or "")
    except NotFound as exc:
        http_for(exc)


def _page(dealer_id: int | None, editing: Trigger | None, form: RuleForm | None,
          settings_form: SettingsForm | None, status: int = 200) -> tuple[str, int]:
    scope = current_scope()
    try:
        rows = svc.rules(scope, dealer_id)
    except DomainError as exc:
        http_for(exc)
    dealers = svc.dealer_choices(scope)
    settings = svc.settings(scope)
    if settings_form is None:
        settings_form = SettingsForm()
        settings_form.valid_months.data = str(settings.valid_months)
        settings_form.expiry_warning_days.data = str(settings.expiry_warning_days)
    row = next((r for r in rows if r.trigger == editing), None)
    if editing is not None and form is None:
        form = RuleForm()
        # a dealer's new override starts from the account's rule
        form.fill(None if row is None else (row.effective if dealer_id is not None else row.account_rule))
    return render_template(
        "admin/loyalty_rules/index.html", rows=rows, dealer_id=dealer_id, dealers=dealers,
        dealer_names={d.id: d.name for d in dealers}, editing=editing, editing_row=row, form=form,
        settings=settings, settings_form=settings_form, can_edit=svc.can_edit(scope, dealer_id),
        can_settings=scope.all_dealers and scope.can(Perm.LOYALTY_RULES), all_dealers=scope.all_dealers,
    ), status


@bp.get("/")
def index() -> tuple[str, int]:
    """The rules of the account (or of one dealer), what they paid, and the points validity."""
    scope = current_scope()
    if not scope.can(Perm.LOYALTY_RULES):
        http_for(Forbidden())
    dealer_id = _dealer(scope, request.args.get("dealer"))
    editing = _trigger(request.args["trigger"]) if request.args.get("trigger") else None
    if editing is not None and not svc.can_edit(scope, dealer_id):
        http_for(Forbidden())
    return _page(dealer_id, editing, None, None)


def _back(dealer_id: int | None) -> Response:
    return redirect(url_for(".index", dealer=dealer_id) if dealer_id else url_for(".index"), 303)


@bp.post("/save")
def save() -> Any:
    """Save one rule: the account's, or the dealer's own."""
    scope, staff = current_scope(), current_staff()
    if not scope.can(Perm.LOYALTY_RULES):
        http_for(Forbidden())
    trigger = _trigger(request.form.get("trigger"))
    dealer_id = _dealer(scope, request.form.get("dealer_id"))
    form = RuleForm()
    if form.validate_on_submit():
        try:
            svc.save_rule(staff, trigger, dealer_id, form.to_input(), client_ip())
            flash(gettext("Rule “%(rule)s” saved.", rule=TRIGGER_LABELS[trigger]), "success")
            return _back(dealer_id)
        except FormInvalid as exc:
            form.show_problems(exc)
        except (Forbidden, NotFound) as exc:
            http_for(exc)
    return _page(dealer_id, trigger, form, None, 422)


@bp.post("/reset")
def reset() -> Response:
    """Delete a dealer's own rule: the account's rule applies again."""
    scope, staff = current_scope(), current_staff()
    if not scope.can(Perm.LOYALTY_RULES):
        http_for(Forbidden())
    trigger = _trigger(request.form.get("trigger"))
    dealer_id = _dealer(scope, request.form.get("dealer_id"))
    if dealer_id is None:
        http_for(NotFound())
    if not RuleForm().validate_on_submit():
        http_for(Forbidden())
    try:
        if svc.reset_rule(staff, trigger, dealer_id, client_ip()):
            flash(gettext("This dealer now uses the account's rule for “%(rule)s”.", rule=TRIGGER_LABELS[trigger]),
                  "success")
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    return _back(dealer_id)


@bp.post("/settings")
def settings() -> Any:
    """Change how long earned points stay valid and when members are warned."""
    scope, staff = current_scope(), current_staff()
    if not (scope.can(Perm.LOYALTY_RULES) and scope.all_dealers):
        http_for(Forbidden())
    form = SettingsForm()
    if form.validate_on_submit():
        try:
            svc.save_settings(staff, svc.SettingsInput(valid_months=form.valid_months.data or "",
                                                       expiry_warning_days=form.expiry_warning_days.data or ""),
                              client_ip())
            flash(gettext("Points validity saved."), "success")
            return _back(None)
        except FormInvalid as exc:
            form.show_problems(exc)
        except Forbidden as exc:
            http_for(exc)
    return _page(None, None, None, form, 422)
