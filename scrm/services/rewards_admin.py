"""The rewards catalogue as staff manage it: list, create, edit, top up stock (audited), and redemptions.

A dealer manager manages the own dealer's rewards and sees the account-wide ones read-only; a brand
admin manages every dealer's and the account-wide ones. Validity dates are local days (the app's time
zone): a reward is open from the start of `valid_from` to the end of `valid_until`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, cast

import sqlalchemy as sa

from scrm import db
from scrm.models import Redemption, RedemptionStatus, Reward, StaffUser
from scrm.services import audit, ledger
from scrm.services.errors import Forbidden
from scrm.services.normalize_base import N_
from scrm.services.paging import Page, paginate
from scrm.services.scope import Perm, Scope
from scrm.services.validation import Problems

audit.ACTIONS.update({"reward.create": N_("Created a reward"), "reward.update": N_("Changed a reward"),
                      "reward.stock": N_("Topped up a reward's stock")})
MAX_COST, MAX_STOCK, MAX_DAYS = 10_000_000, 1_000_000, 3650


@dataclass(frozen=True)
class RewardInput:
    """What the form submits, as typed (the service parses and checks every field)."""

    name: str
    description: str = ""
    cost: str = ""
    stock: str = "0"
    per_member_limit: str = ""
    valid_from: str = ""
    valid_until: str = ""
    voucher_days: str = "30"
    active: bool = True
    sort_order: str = "0"
    dealer_id: int | None = None


def _int(p: Problems, field: str, raw: str, low: int, high: int, *, optional: bool = False) -> int | None:
    raw = (raw or "").strip()
    if not raw and optional:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        p.add(field, N_("Enter a whole number from %(low)s to %(high)s."), low=low, high=high)
        return None
    return value


def _day(p: Problems, field: str, raw: str) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        p.add(field, N_("Enter a date like 2026-12-31."))
        return None


def local_start(d: date) -> datetime:
    """The first instant of a local day, as a UTC-comparable aware datetime."""
    return datetime.combine(d, time(0), ledger.local_tz())


def local_day(value: datetime | None, *, end: bool = False) -> str:
    """A stored validity bound as the local day the form shows ('' when open)."""
    if value is None:
        return ""
    local = value.astimezone(ledger.local_tz())
    return (local - timedelta(microseconds=1) if end else local).date().isoformat()


def _check(data: RewardInput, *, new: bool) -> dict[str, object]:
    p = Problems()
    name = data.name.strip()
    if not name:
        p.add("name", N_("Enter the reward's name."))
    elif len(name) > 60:
        p.add("name", N_("At most %(n)s characters."), n=60)
    if len(data.description) > 500:
        p.add("description", N_("At most %(n)s characters."), n=500)
    values: dict[str, object] = {
        "name": name, "description": data.description.strip(), "active": data.active,
        "cost": _int(p, "cost", data.cost, 1, MAX_COST),
        "per_member_limit": _int(p, "per_member_limit", data.per_member_limit, 1, 1000, optional=True),
        "voucher_days": _int(p, "voucher_days", data.voucher_days, 1, MAX_DAYS),
        "sort_order": _int(p, "sort_order", data.sort_order or "0", -999, 999)}
    if new:
        values["stock"] = _int(p, "stock", data.stock or "0", 0, MAX_STOCK)
    start, until = _day(p, "valid_from", data.valid_from), _day(p, "valid_until", data.valid_until)
    if start and until and until < start:
        p.add("valid_until", N_("The last day cannot be before the first day."))
    values["valid_from"] = local_start(start) if start else None
    values["valid_until"] = local_start(until + timedelta(days=1)) if until else None
    p.raise_if_any()
    return values


def list_rewards(scope: Scope) -> list[Reward]:
    """Rewards in scope (dealer roles also see account-wide ones), in catalogue order."""
    stmt = scope.apply(sa.select(Reward), Reward, shared=True)
    return list(db.session.scalars(stmt.order_by(Reward.active.desc(), Reward.sort_order, Reward.id)))


def can_edit(scope: Scope, r: Reward) -> bool:
    """True when the staff member may change this reward."""
    return scope.can(Perm.REWARDS_MANAGE) and scope.dealer_ok(r.dealer_id)


def get_reward(scope: Scope, reward_id: int) -> Reward:
    """A reward in scope; NotFound otherwise."""
    return scope.get(db.session(), Reward, reward_id, shared=True)


def create(staff: StaffUser, scope: Scope, data: RewardInput, ip: str = "") -> Reward:
    """Add a reward to the catalogue of `data.dealer_id` (None: account-wide)."""
    scope.require(Perm.REWARDS_MANAGE)
    if not scope.dealer_ok(data.dealer_id):
        raise Forbidden()
    values = _check(data, new=True)
    with db.transaction() as s:
        r = Reward(account_id=scope.account_id, dealer_id=data.dealer_id, **values)
        s.add(r)
        s.flush()
        audit.record(s, staff=staff, action="reward.create", target_type="reward", target_id=r.id, ip=ip,
                     dealer_id=r.dealer_id, detail={"name": r.name, "cost": r.cost, "stock": r.stock})
    return r


def update(staff: StaffUser, scope: Scope, reward_id: int, data: RewardInput, ip: str = "") -> Reward:
    """Change a reward (not its stock: that is `top_up`; not its dealer)."""
    values = _check(data, new=False)
    with db.transaction() as s:
        r = scope.get(s, Reward, reward_id, shared=True)
        if not can_edit(scope, r):
            raise Forbidden()
        before = {k: str(getattr(r, k)) for k in values}
        for k, v in values.items():
            setattr(r, k, v)
        r.updated_at = db.utcnow()
        changed = {k: str(v) for k, v in values.items() if before[k] != str(v)}
        audit.record(s, staff=staff, action="reward.update", target_type="reward", target_id=r.id, ip=ip,
                     dealer_id=r.dealer_id, detail={"name": r.name, "changed": changed})
    return r


def top_up(staff: StaffUser, scope: Scope, reward_id: int, raw: str, ip: str = "") -> Reward:
    """Add stock to a reward (a conditional-free increment: redemptions racing it keep their units)."""
    p = Problems()
    add = _int(p, "add", raw, 1, MAX_STOCK)
    p.raise_if_any()
    with db.transaction() as s:
        r = scope.get(s, Reward, reward_id, shared=True)
        if not can_edit(scope, r):
            raise Forbidden()
        s.execute(sa.update(Reward).where(Reward.id == r.id).values(stock=Reward.stock + add, updated_at=db.utcnow())
                  .execution_options(synchronize_session=False))
        s.refresh(r)
        audit.record(s, staff=staff, action="reward.stock", target_type="reward", target_id=r.id, ip=ip,
                     dealer_id=r.dealer_id, detail={"name": r.name, "added": add, "stock": r.stock})
    return r


def redemptions(scope: Scope, *, status: str = "", reward_id: int | None = None,
                page: int = 1) -> Page[tuple[Redemption, Reward]]:
    """Redemptions in scope, newest first, optionally of one status or one reward."""
    stmt = scope.apply(sa.select(Redemption, Reward).join(Reward, Reward.id == Redemption.reward_id),
                       Redemption, shared=True)
    if status in {s.value for s in RedemptionStatus}:
        stmt = stmt.where(Redemption.status == RedemptionStatus(status))
    if reward_id is not None:
        stmt = stmt.where(Redemption.reward_id == reward_id)
    ordered = cast("sa.Select[Any]", stmt.order_by(Redemption.issued_at.desc(), Redemption.id.desc()))
    return paginate(db.session(), ordered, page)
