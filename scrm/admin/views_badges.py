"""Badges and the monthly leaderboard in the admin."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response
from wtforms import BooleanField, StringField, TextAreaField

from scrm.admin import nav
from scrm.admin.auth import client_ip
from scrm.admin.forms import STRIP, AdminForm, ChoiceField, ConfirmForm, parse_int
from scrm.admin.helpers import flash_domain_error, http_for
from scrm.admin.scoping import current_scope, current_staff
from scrm.models import Badge, BadgeRule
from scrm.services import badges_admin as svc
from scrm.services import leaderboard
from scrm.services.errors import DomainError, Forbidden, Invalid, NotFound
from scrm.services.keyword_admin import dealer_choices
from scrm.services.normalize_base import N_
from scrm.services.validation import FormInvalid

bp = Blueprint("badges", __name__, url_prefix="/badges")
nav.add_group("loyalty", "Loyalty & club", 27)
nav.add_item(nav.NavItem("loyalty", "admin.badges.index", "Badges", order=40,
                         active_prefixes=("admin.badges.index", "admin.badges.create", "admin.badges.edit",
                                          "admin.badges.member")))
nav.add_item(nav.NavItem("loyalty", "admin.badges.board", "Leaderboard", order=45,
                         active_prefixes=("admin.badges.board",)))


class BadgeForm(AdminForm):
    """The badge editor's fields (the rules are in badges_admin)."""

    code = StringField(filters=STRIP)
    name = StringField(filters=STRIP)
    description = TextAreaField(filters=STRIP)
    icon = StringField(filters=STRIP)
    rule = ChoiceField()
    threshold = StringField(filters=STRIP)
    active = BooleanField()
    sort_order = StringField(filters=STRIP)

    def to_input(self) -> svc.BadgeInput:
        """The typed values for the service."""
        return svc.BadgeInput(code=self.code.data or "", name=self.name.data or "",
                              description=self.description.data or "", icon=self.icon.data or "",
                              rule=self.rule.data or "", threshold=self.threshold.data or "",
                              active=bool(self.active.data), sort_order=self.sort_order.data or "0")


def _rule_choices() -> list[tuple[str, str]]:
    return [(r.value, gettext(svc.RULE_LABELS[r])) for r in BadgeRule]


@bp.get("/")
def index() -> str:
    """The account's badges with their holders; the brand admin edits them."""
    scope = current_scope()
    return render_template("admin/badges/list.html", rows=svc.list_badges(scope), can_edit=svc.can_edit(scope),
                           rule_labels={r.value: gettext(label) for r, label in svc.RULE_LABELS.items()},
                           confirm=ConfirmForm())


@bp.post("/standard")
def seed() -> Response:
    """Add the standard badges the account lacks."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        http_for(Forbidden())
    try:
        added = svc.seed_standard(current_staff(), client_ip())
    except Forbidden as exc:
        http_for(exc)
    if added:
        flash(gettext("%(n)s standard badges added.", n=added), "success")
    else:
        flash(gettext("The account already has every standard badge."), "info")
    return redirect(url_for(".index"), 303)


def _form_page(form: BadgeForm, row: Badge | None, status: int = 200) -> Any:
    return render_template("admin/badges/form.html", form=form, row=row, rules=_rule_choices()), status


@bp.route("/new", methods=["GET", "POST"])
def create() -> Any:
    """A new badge (brand admin)."""
    if not svc.can_edit(current_scope()):
        http_for(Forbidden())
    form = BadgeForm()
    if request.method == "GET":
        form.rule.data, form.threshold.data, form.active.data, form.sort_order.data = "manual", "1", True, "0"
        form.icon.data = "★"
        return _form_page(form, None)
    return _submit(form, None)


@bp.route("/<int:badge_id>/edit", methods=["GET", "POST"])
def edit(badge_id: int) -> Any:
    """Edit a badge (brand admin)."""
    scope = current_scope()
    if not svc.can_edit(scope):
        http_for(Forbidden())
    try:
        row = svc.get_badge(scope, badge_id)
    except NotFound as exc:
        http_for(exc)
    form = BadgeForm(obj=None if request.method == "POST" else row)
    if request.method == "GET":
        form.rule.data, form.threshold.data = row.rule.value, str(row.threshold)
        form.sort_order.data = str(row.sort_order)
        return _form_page(form, row)
    return _submit(form, row)


def _submit(form: BadgeForm, row: Badge | None) -> Any:
    if form.validate_on_submit():
        try:
            saved = svc.save_badge(current_staff(), form.to_input(), row.id if row else None, client_ip())
            flash(gettext("Badge “%(name)s” saved.", name=saved.name), "success")
            return redirect(url_for(".index"), 303)
        except FormInvalid as exc:
            form.show_problems(exc)
        except (Forbidden, NotFound) as exc:
            http_for(exc)
    return _form_page(form, row, 422)


@bp.get("/members/<int:member_id>")
def member(member_id: int) -> str:
    """A member's badges, with award and revoke for who may."""
    scope = current_scope()
    try:
        mb = svc.member_badges(scope, member_id)
    except NotFound as exc:
        http_for(exc)
    return render_template("admin/badges/member.html", mb=mb, can_award=svc.can_award(scope),
                           confirm=ConfirmForm())


@bp.post("/members/<int:member_id>/award")
def award(member_id: int) -> Response:
    """Give a member a badge by hand."""
    return _change(member_id, svc.award, gettext("Badge given."), gettext("The member already holds this badge."))


@bp.post("/members/<int:member_id>/revoke")
def revoke(member_id: int) -> Response:
    """Take a badge from a member."""
    return _change(member_id, svc.revoke, gettext("Badge taken back."), gettext("The member does not hold this badge."))


def _change(member_id: int, action: Any, done: str, nothing: str) -> Response:
    if not ConfirmForm().validate_on_submit():
        http_for(Forbidden())
    badge_id = parse_int(request.form.get("badge_id"))
    try:
        svc.member_badges(current_scope(), member_id)  # out of scope: 404 before anything is read from the form
        if badge_id is None:
            raise Invalid(N_("Choose a badge."), field="badge_id")
        changed = action(current_staff(), member_id, badge_id, client_ip())
        flash(done if changed else nothing, "success" if changed else "info")
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
    return redirect(url_for(".member", member_id=member_id), 303)


@bp.get("/leaderboard")
def board() -> Any:
    """The month's points leaderboard of one dealer (the own dealer; the brand admin picks one)."""
    scope = current_scope()
    dealers = dealer_choices(scope)
    if scope.all_dealers:
        picked = parse_int(request.args.get("dealer"))
        dealer_id = picked if picked in {d.id for d in dealers} else (dealers[0].id if dealers else None)
    else:
        dealer_id = scope.dealer_id
    if dealer_id is None:
        return render_template("admin/badges/leaderboard.html", board=None, dealers=dealers, dealer_id=None,
                               month="", error="")
    today = leaderboard.local_today(dealer_id)
    error, status = "", 200
    try:
        month = leaderboard.parse_month(request.args.get("month"), today)
    except Invalid as exc:
        error, status, month = gettext(exc.message), 400, today.replace(day=1)
    result = leaderboard.board(scope.account_id, dealer_id, month)
    return render_template("admin/badges/leaderboard.html", board=result, dealers=dealers, dealer_id=dealer_id,
                           month=month.strftime("%Y-%m"), error=error), status
