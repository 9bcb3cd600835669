"""Members in the admin: the member list, a member's ledger with staff adjustments, and the tiers editor."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from werkzeug.wrappers import Response
from wtforms import HiddenField, StringField, TextAreaField

from scrm.admin import nav
from scrm.admin.auth import client_ip
from scrm.admin.forms import AdminForm, parse_int
from scrm.admin.helpers import dealer_name, flash_domain_error, http_for
from scrm.admin.scoping import current_scope, current_staff
from scrm.models import Member
from scrm.services import member_admin as svc
from scrm.services import member_admin_tiers as tier_svc
from scrm.services.errors import DomainError, Forbidden, NotFound
from scrm.services.paging import clamp_page
from scrm.services.scope import Perm, Scope
from scrm.services.validation import FormInvalid

bp = Blueprint("members", __name__, url_prefix="/members")
nav.add_group("loyalty", "Loyalty & club", 27)
nav.add_item(nav.NavItem("loyalty", "admin.members.index", "Members", order=10,
                         active_prefixes=("admin.members.index", "admin.members.view", "admin.members.adjust")))
nav.add_item(nav.NavItem("loyalty", "admin.members.tiers", "Tiers", order=20, perm=Perm.LOYALTY_RULES,
                         visible=lambda scope: scope.all_dealers, active_prefixes=("admin.members.tier",)))

KIND_LABELS = {"earn": lazy_gettext("Earned"), "spend": lazy_gettext("Spent"), "expire": lazy_gettext("Expired"),
               "adjust": lazy_gettext("Adjusted")}
KIND_BADGES = {"earn": "badge-green", "spend": "badge-blue", "expire": "badge-grey", "adjust": "badge-amber"}
REASON_LABELS = {
    "checkin": lazy_gettext("Daily check-in"), "streak_bonus": lazy_gettext("Check-in streak bonus"),
    "binding": lazy_gettext("Bound to a customer record"), "booking_completed": lazy_gettext("Completed booking"),
    "repair_order": lazy_gettext("Repair order"), "event_attended": lazy_gettext("Club event attended"),
    "birthday": lazy_gettext("Birthday"), "profile_completed": lazy_gettext("Profile completed"),
    "referral_bind": lazy_gettext("Invited a friend who bound"),
    "referral_test_drive": lazy_gettext("Invited a friend who test drove"),
    "referral_purchase": lazy_gettext("Invited a friend who bought a car"),
    "redemption": lazy_gettext("Reward redemption"), "staff": lazy_gettext("Staff adjustment"),
    "expiry": lazy_gettext("Points expired"),
}
SOURCE_LABELS = {"booking": lazy_gettext("Booking"), "repair_order": lazy_gettext("Repair order"),
                 "event": lazy_gettext("Club event"), "staff": lazy_gettext("Staff"),
                 "member": lazy_gettext("Member"), "system": lazy_gettext("System"),
                 "referral": lazy_gettext("Referral"), "reward": lazy_gettext("Reward")}


@bp.context_processor
def _labels() -> dict[str, Any]:
    return {"LEDGER_KINDS": KIND_LABELS, "LEDGER_BADGES": KIND_BADGES, "LEDGER_REASONS": REASON_LABELS,
            "LEDGER_SOURCES": SOURCE_LABELS}


@bp.app_template_global("customer_members")
def customer_members(customer_id: int) -> list[tuple[Member, str]]:
    """For the customer 360 page's loyalty panel: members bound to the customer, with tier names."""
    return svc.for_customer(current_scope(), customer_id)


class AdjustForm(AdminForm):
    points = StringField("Points")
    note = TextAreaField("Reason")
    key = HiddenField()


class TierForm(AdminForm):
    code = StringField("Code")
    name = StringField("Name")
    threshold = StringField("Threshold")
    benefits = TextAreaField("Benefits")
    sort_order = StringField("Order")


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "").strip().replace(",", "")
    return parse_int(raw) if raw.lstrip("-").isdigit() and len(raw) <= 10 else None


def _filter(scope: Scope) -> tuple[svc.MemberFilter, dict[str, Any]]:
    tier = _int_arg("tier")
    tier_ids = {t.id for t in svc.tier_choices(scope)}
    flt = svc.MemberFilter(q=request.args.get("q", "").strip()[:64], tier_id=tier if tier in tier_ids else None,
                           min_balance=_int_arg("min"), max_balance=_int_arg("max"))
    query = {k: v for k, v in {"q": flt.q, "tier": flt.tier_id, "min": flt.min_balance,
                               "max": flt.max_balance}.items() if v not in (None, "")}
    return flt, query


@bp.get("/")
def index() -> str:
    """Members in scope with balance, tier and streak; filters and paging."""
    scope = current_scope()
    flt, query = _filter(scope)
    page = svc.list_members(scope, flt, clamp_page(request.args.get("page")))
    return render_template("admin/members/list.html", page=page, flt=flt, query=query,
                           tier_choices=svc.tier_choices(scope),
                           can_tiers=scope.all_dealers and scope.can(Perm.LOYALTY_RULES))


def _load(member_id: int) -> Member:
    try:
        return svc.get_member(current_scope(), member_id)
    except NotFound as exc:
        http_for(exc)


def _render(member: Member, form: AdjustForm, status: int = 200) -> Any:
    scope = current_scope()
    if not form.key.data:
        form.key.data = secrets.token_urlsafe(24)
    return render_template("admin/members/view.html", v=svc.member_view(scope, member),
                           ledger=svc.ledger_page(member, clamp_page(request.args.get("page"))), form=form,
                           can_adjust=scope.can(Perm.POINTS_ADJUST),
                           home_dealer=dealer_name(member.dealer_id)), status


@bp.get("/<int:member_id>")
def view(member_id: int) -> Any:
    """One member: follower, bound customers, balance, tier progress and the ledger."""
    return _render(_load(member_id), AdjustForm(formdata=None))


@bp.post("/<int:member_id>/adjust")
def adjust(member_id: int) -> Any:
    """Add or take points with a reason (once per form, however often it is submitted)."""
    member = _load(member_id)
    if not current_scope().can(Perm.POINTS_ADJUST):
        http_for(Forbidden())
    form = AdjustForm()
    if not form.validate_on_submit():
        return _render(member, form, 400)
    try:
        entry = svc.adjust(current_scope(), current_staff(), member.id, form.points.data or "", form.note.data or "",
                           form.key.data or "", client_ip())
    except FormInvalid as exc:
        form.show_problems(exc)
        return _render(member, form, 422)
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    except DomainError as exc:
        if getattr(exc, "field", ""):
            form.show_problems(exc)
            return _render(member, form, 422)
        flash_domain_error(exc)
        return redirect(url_for(".view", member_id=member.id), 303)
    flash(gettext("Points adjusted by %(points)+d. Balance: %(balance)s.", points=entry.points,
                  balance=f"{svc.get_member(current_scope(), member.id).balance:,}"), "success")
    return redirect(url_for(".view", member_id=member.id), 303)


# -- tiers -----------------------------------------------------------------------------------------
def _tiers_page(form: TierForm, editing: int | None = None, status: int = 200) -> Any:
    try:
        rows = tier_svc.list_tiers(current_scope())
    except Forbidden as exc:
        http_for(exc)
    return render_template("admin/members/tiers.html", rows=rows, form=form, editing=editing), status


def _input(form: TierForm) -> tier_svc.TierInput:
    return tier_svc.TierInput(code=form.code.data or "", name=form.name.data or "",
                              threshold=form.threshold.data or "", benefits=form.benefits.data or "",
                              sort_order=form.sort_order.data or "")


def _save(form: TierForm, tier_id: int | None) -> Any:
    if not form.validate_on_submit():
        return _tiers_page(form, tier_id, 400)
    try:
        t = tier_svc.save(current_scope(), current_staff(), _input(form), tier_id, client_ip())
    except FormInvalid as exc:
        form.show_problems(exc)
        return _tiers_page(form, tier_id, 422)
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    flash(gettext("Tier “%(name)s” saved. Recompute the tiers so members move to match.", name=t.name), "success")
    return redirect(url_for(".tiers", changed=1), 303)


@bp.get("/tiers")
def tiers() -> Any:
    """The account's tiers with the number of members in each."""
    return _tiers_page(TierForm(formdata=None))


@bp.post("/tiers")
def tier_create() -> Any:
    """Add a tier."""
    return _save(TierForm(), None)


@bp.get("/tiers/<int:tier_id>")
def tier_edit(tier_id: int) -> Any:
    """The tiers page with one tier's fields in the form."""
    try:
        t = tier_svc.get_tier(current_scope(), tier_id)
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    form = TierForm(formdata=None, data={"code": t.code, "name": t.name, "threshold": str(t.threshold),
                                         "benefits": t.benefits, "sort_order": str(t.sort_order)})
    return _tiers_page(form, t.id)


@bp.post("/tiers/<int:tier_id>")
def tier_update(tier_id: int) -> Any:
    """Save a tier's changes."""
    return _save(TierForm(), tier_id)


@bp.post("/tiers/<int:tier_id>/delete")
def tier_delete(tier_id: int) -> Response:
    """Delete a tier nobody holds."""
    try:
        name = tier_svc.delete(current_scope(), current_staff(), tier_id, client_ip())
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
        return redirect(url_for(".tiers"), 303)
    flash(gettext("Tier “%(name)s” deleted.", name=name), "success")
    return redirect(url_for(".tiers", changed=1), 303)


@bp.post("/tiers/recompute")
def tier_recompute() -> Response:
    """Refresh every member's tier now and say how many changed."""
    try:
        changed = tier_svc.recompute(current_scope(), current_staff(), client_ip())
    except Forbidden as exc:
        http_for(exc)
    flash(gettext("Tiers recomputed: %(count)s members changed tier.", count=changed), "success")
    return redirect(url_for(".tiers"), 303)
