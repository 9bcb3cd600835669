"""The rewards catalogue (积分商城): list, create, edit, stock top-up, the redemptions list with cancel,
and voucher use at the counter (核销, /admin/rewards/verify).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from wtforms import BooleanField, StringField, TextAreaField

from scrm import db
from scrm.admin import nav
from scrm.admin.auth import client_ip, require_perm
from scrm.admin.forms import STRIP, AdminForm, ChoiceField, parse_int
from scrm.admin.helpers import flash_domain_error, http_for
from scrm.admin.scoping import current_scope, current_staff
from scrm.models import Reward
from scrm.services import rewards
from scrm.services import rewards_admin as svc
from scrm.services import rewards_counter as counter
from scrm.services.errors import DomainError, Forbidden, Invalid, NotFound
from scrm.services.keyword_admin import dealer_choices
from scrm.services.paging import clamp_page
from scrm.services.scope import Perm

bp = Blueprint("rewards", __name__, url_prefix="/rewards")
nav.add_group("loyalty", "Loyalty & club", 27)
nav.add_item(nav.NavItem("loyalty", "admin.rewards.index", "Rewards", order=40, perm=Perm.REWARDS_MANAGE,
                         active_prefixes=("admin.rewards.index", "admin.rewards.new", "admin.rewards.edit",
                                          "admin.rewards.redemptions")))
nav.add_item(nav.NavItem("loyalty", "admin.rewards.verify", "Voucher check", order=45, perm=Perm.VOUCHERS_USE,
                         active_prefixes=("admin.rewards.verify", "admin.rewards.use")))


class RewardForm(AdminForm):
    dealer_id = ChoiceField("Dealer")
    name = StringField("Name", filters=STRIP)
    description = TextAreaField("Description", filters=STRIP)
    cost = StringField("Points", filters=STRIP)
    stock = StringField("Stock", filters=STRIP)
    per_member_limit = StringField("Limit per member", filters=STRIP)
    valid_from = StringField("First day", filters=STRIP)
    valid_until = StringField("Last day", filters=STRIP)
    voucher_days = StringField("Voucher valid for (days)", filters=STRIP)
    sort_order = StringField("Order", filters=STRIP)
    active = BooleanField("Active")


class StockForm(AdminForm):
    add = StringField("Add", filters=STRIP)


def _input(form: RewardForm, dealer_id: int | None) -> svc.RewardInput:
    return svc.RewardInput(name=form.name.data or "", description=form.description.data or "",
                           cost=form.cost.data or "", stock=form.stock.data or "0",
                           per_member_limit=form.per_member_limit.data or "", valid_from=form.valid_from.data or "",
                           valid_until=form.valid_until.data or "", voucher_days=form.voucher_days.data or "",
                           active=bool(form.active.data), sort_order=form.sort_order.data or "0",
                           dealer_id=dealer_id)


def _dealers() -> dict[int, str]:
    return {d.id: d.name for d in dealer_choices(current_scope())}


@bp.get("/")
@require_perm(Perm.REWARDS_MANAGE)
def index() -> Any:
    """The catalogue in scope with stock and a top-up form per reward."""
    scope = current_scope()
    items = svc.list_rewards(scope)
    return render_template("admin/rewards/list.html", items=items, dealers=_dealers(), stock_form=StockForm(),
                           editable={r.id for r in items if svc.can_edit(scope, r)}, local_day=svc.local_day)


def _render_form(form: RewardForm, reward: Reward | None, status: int = 200) -> Any:
    scope = current_scope()
    choices = [(str(d), n) for d, n in _dealers().items()]
    if scope.all_dealers:
        choices = [("", gettext("All dealers (account-wide)")), *choices]
    form.dealer_id.choices = choices
    return render_template("admin/rewards/form.html", form=form, reward=reward, dealers=_dealers()), status


@bp.get("/new")
@require_perm(Perm.REWARDS_MANAGE)
def new() -> Any:
    """The form for a new reward."""
    form = RewardForm(formdata=None, data={"active": True, "voucher_days": "30", "sort_order": "0",
                                           "stock": "0"})
    scope = current_scope()
    if scope.dealer_id is not None:
        form.dealer_id.data = str(scope.dealer_id)
    return _render_form(form, None)


@bp.post("/new")
@require_perm(Perm.REWARDS_MANAGE)
def create() -> Any:
    """Create a reward; problems are shown next to their fields."""
    form = RewardForm()
    if not form.validate_on_submit():
        return _render_form(form, None, 400)
    scope = current_scope()
    dealer_id = parse_int(form.dealer_id.data) if scope.all_dealers else scope.dealer_id
    try:
        r = svc.create(current_staff(), scope, _input(form, dealer_id), client_ip())
    except Invalid as exc:
        form.show_problems(exc)
        return _render_form(form, None, 422)
    except Forbidden as exc:
        http_for(exc)
    flash(gettext("Reward “%(name)s” created.", name=r.name), "success")
    return redirect(url_for(".index"), 303)


def _load(reward_id: int) -> Reward:
    try:
        r = svc.get_reward(current_scope(), reward_id)
    except NotFound as exc:
        http_for(exc)
    if not svc.can_edit(current_scope(), r):
        http_for(Forbidden())
    return r


@bp.get("/<int:reward_id>/edit")
@require_perm(Perm.REWARDS_MANAGE)
def edit(reward_id: int) -> Any:
    """The form for a reward of the staff member's catalogue."""
    r = _load(reward_id)
    form = RewardForm(formdata=None, data={
        "dealer_id": str(r.dealer_id or ""), "name": r.name, "description": r.description, "cost": str(r.cost),
        "stock": str(r.stock), "per_member_limit": str(r.per_member_limit or ""),
        "valid_from": svc.local_day(r.valid_from), "valid_until": svc.local_day(r.valid_until, end=True),
        "voucher_days": str(r.voucher_days), "sort_order": str(r.sort_order), "active": r.active})
    return _render_form(form, r)


@bp.post("/<int:reward_id>/edit")
@require_perm(Perm.REWARDS_MANAGE)
def update(reward_id: int) -> Any:
    """Save a reward's changes (stock is changed by the top-up form)."""
    r = _load(reward_id)
    form = RewardForm()
    if not form.validate_on_submit():
        return _render_form(form, r, 400)
    try:
        r = svc.update(current_staff(), current_scope(), reward_id, _input(form, r.dealer_id), client_ip())
    except Invalid as exc:
        form.show_problems(exc)
        return _render_form(form, r, 422)
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    flash(gettext("Reward “%(name)s” saved.", name=r.name), "success")
    return redirect(url_for(".index"), 303)


@bp.post("/<int:reward_id>/stock")
@require_perm(Perm.REWARDS_MANAGE)
def stock(reward_id: int) -> Any:
    """Add stock to a reward (audited)."""
    form = StockForm()
    if form.validate_on_submit():
        try:
            r = svc.top_up(current_staff(), current_scope(), reward_id, form.add.data or "", client_ip())
            flash(gettext("Stock of “%(name)s” is now %(stock)s.", name=r.name, stock=r.stock), "success")
        except (Forbidden, NotFound) as exc:
            http_for(exc)
        except DomainError as exc:
            flash_domain_error(exc)
    return redirect(url_for(".index"), 303)


@bp.get("/redemptions")
@require_perm(Perm.REWARDS_MANAGE)
def redemptions() -> Any:
    """Redemptions in scope, filtered by status, newest first, with cancel for issued vouchers."""
    status = request.args.get("status", "")
    page = svc.redemptions(current_scope(), status=status, page=clamp_page(request.args.get("page")))
    return render_template("admin/rewards/redemptions.html", page=page, status=status, dealers=_dealers(),
                           query={"status": status} if status else {})


class CancelForm(AdminForm):
    reason = StringField("Reason", filters=STRIP)


@bp.post("/redemptions/<int:redemption_id>/cancel")
@require_perm(Perm.REWARDS_MANAGE)
def cancel(redemption_id: int) -> Any:
    """Cancel an issued voucher with a reason: stock back, points refunded."""
    form = CancelForm()
    if form.validate_on_submit():
        try:
            v = counter.cancel(current_staff(), current_scope(), redemption_id, form.reason.data or "", client_ip())
            flash(gettext("Voucher %(code)s cancelled; %(points)s points refunded.", code=v.code, points=v.points),
                  "success")
        except (Forbidden, NotFound) as exc:
            http_for(exc)
        except DomainError as exc:
            flash_domain_error(exc)
    return redirect(request.referrer if _same_page(request.referrer) else url_for(".redemptions"), 303)


def _same_page(target: str | None) -> bool:
    return bool(target) and urlsplit(target or "").path == url_for(".redemptions")


class VerifyForm(AdminForm):
    code = StringField("Voucher code", filters=STRIP)


def _verify_page(code: str, *, error: str = "", status: int = 200) -> Any:
    view = None
    if code and not error:
        try:
            view = counter.look_up(current_scope(), code)
        except DomainError as exc:
            error = gettext(exc.message, **exc.params) if exc.params else gettext(exc.message)
            status = 404 if isinstance(exc, NotFound) else 422
    return render_template("admin/rewards/verify.html", code=rewards.normalise_code(code), view=view, error=error,
                           form=VerifyForm(formdata=None), now=db.utcnow()), status


@bp.get("/verify")
@require_perm(Perm.VOUCHERS_USE)
def verify() -> Any:
    """Type or scan a code: the voucher (reward, member masked, status, expiry) and the 核销 button."""
    return _verify_page(request.args.get("code", "").strip())


@bp.post("/verify/use")
@require_perm(Perm.VOUCHERS_USE)
def use() -> Any:
    """Use the voucher once; a second use, another dealer's voucher or an expired one says why not."""
    form = VerifyForm()
    code = form.code.data or ""
    if not form.validate_on_submit():
        return _verify_page(code, status=400)
    try:
        v = counter.use(current_staff(), current_scope(), code, client_ip())
    except DomainError as exc:
        flash_domain_error(exc)
        return redirect(url_for(".verify", code=rewards.normalise_code(code)), 303)
    flash(gettext("Voucher %(code)s used: %(reward)s.", code=v.code, reward=v.reward_name), "success")
    return redirect(url_for(".verify", code=v.code), 303)
