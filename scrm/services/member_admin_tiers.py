"""The tiers editor: an account's tiers (code, name, 12-month threshold, benefits, order), audited.

Tiers are account-wide, so only a brand admin with Perm.LOYALTY_RULES edits them. A tier some member
holds cannot be deleted. After a change, `recompute` refreshes the account's members through
`tiers.refresh_in` (the same rule as the nightly pass) and says how many moved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from scrm import db
from scrm.models import ClubEvent, Member, StaffUser, Tier
from scrm.services import audit, tiers
from scrm.services.errors import Forbidden, Invalid, NotFound
from scrm.services.normalize_base import N_
from scrm.services.scope import Perm, Scope
from scrm.services.validation import Problems

audit.ACTIONS.update({
    "tier.create": N_("Created a tier"),
    "tier.update": N_("Edited a tier"),
    "tier.delete": N_("Deleted a tier"),
    "tier.recompute": N_("Recomputed members' tiers"),
})
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
MAX_THRESHOLD = 100_000_000


@dataclass(frozen=True)
class TierInput:
    """The editor's fields as typed."""

    code: str = ""
    name: str = ""
    threshold: str = ""
    benefits: str = ""
    sort_order: str = ""


@dataclass(frozen=True)
class TierRow:
    """A tier with how many members hold it."""

    tier: Tier
    members: int


def _require(scope: Scope) -> None:
    if not (scope.can(Perm.LOYALTY_RULES) and scope.all_dealers):
        raise Forbidden()


def list_tiers(scope: Scope) -> list[TierRow]:
    """The account's tiers, lowest threshold first, with member counts."""
    _require(scope)
    s = db.session()
    counts: dict[int, int] = {int(tier_id or 0): int(n) for tier_id, n in s.execute(
        sa.select(Member.tier_id, sa.func.count()).where(Member.account_id == scope.account_id,
                                                         Member.tier_id.is_not(None)).group_by(Member.tier_id))}
    return [TierRow(t, counts.get(t.id, 0)) for t in tiers.ladder(s, scope.account_id)]


def get_tier(scope: Scope, tier_id: int) -> Tier:
    """One of the account's tiers; NotFound otherwise."""
    _require(scope)
    t = db.session.get(Tier, tier_id)
    if t is None or t.account_id != scope.account_id:
        raise NotFound()
    return t


def _int(problems: Problems, name: str, raw: str, low: int, high: int, default: int | None = None) -> int:
    text = (raw or "").strip().replace(",", "")
    if not text and default is not None:
        return default
    if not re.fullmatch(r"-?\d{1,10}", text) or not low <= int(text) <= high:
        problems.add(name, N_("Enter a whole number from %(low)s to %(high)s."), low=low, high=f"{high:,}")
        return 0
    return int(text)


def _clean(s: sa.orm.Session, account_id: int, data: TierInput, tier_id: int | None) -> dict[str, object]:
    p = Problems()
    code, name = data.code.strip().lower(), data.name.strip()
    if not _CODE.match(code):
        p.add("code", N_("Use 1 to 32 lower-case letters, digits, - or _ (e.g. gold)."))
    elif s.scalar(sa.select(Tier.id).where(Tier.account_id == account_id, Tier.code == code,
                                           Tier.id != (tier_id or 0))) is not None:
        p.add("code", N_("Another tier already uses this code."))
    if not name or len(name) > 50:
        p.add("name", N_("Enter a name of at most 50 characters."))
    threshold = _int(p, "threshold", data.threshold, 0, MAX_THRESHOLD)
    if not p.has("threshold") and s.scalar(sa.select(Tier.id).where(
            Tier.account_id == account_id, Tier.threshold == threshold, Tier.id != (tier_id or 0))) is not None:
        p.add("threshold", N_("Another tier already has this threshold."))
    benefits = data.benefits.strip()
    if len(benefits) > 2000:
        p.add("benefits", N_("Keep the benefits under 2,000 characters."))
    order = _int(p, "sort_order", data.sort_order, 0, 999, default=0)
    p.raise_if_any()
    return {"code": code, "name": name, "threshold": threshold, "benefits": benefits, "sort_order": order}


def _detail(t: Tier) -> dict[str, object]:
    return {"code": t.code, "name": t.name, "threshold": t.threshold, "sort_order": t.sort_order}


def save(scope: Scope, staff: StaffUser, data: TierInput, tier_id: int | None = None, ip: str = "") -> Tier:
    """Create a tier (`tier_id` None) or edit one; FormInvalid lists every problem."""
    _require(scope)
    with db.transaction() as s:
        found = s.get(Tier, tier_id) if tier_id is not None else None
        if tier_id is not None and (found is None or found.account_id != scope.account_id):
            raise NotFound()
        values = _clean(s, scope.account_id, data, tier_id)
        if found is None:
            t = Tier(account_id=scope.account_id, **values)
            s.add(t)
            s.flush()
            action, detail = "tier.create", _detail(t)
        else:
            t = found
            before = _detail(t)
            for k, v in values.items():
                setattr(t, k, v)
            action, detail = "tier.update", {"before": before, "after": _detail(t)}
        audit.record(s, staff=staff, action=action, target_type="tier", target_id=t.id, detail=detail, ip=ip)
        return t


def delete(scope: Scope, staff: StaffUser, tier_id: int, ip: str = "") -> str:
    """Delete a tier no member holds; Invalid (saying how many hold it) otherwise. Returns its name."""
    _require(scope)
    with db.transaction() as s:
        t = s.scalar(sa.select(Tier).where(Tier.id == tier_id).with_for_update())
        if t is None or t.account_id != scope.account_id:
            raise NotFound()
        held = int(s.scalar(sa.select(sa.func.count()).where(Member.tier_id == t.id)) or 0)
        if held:
            raise Invalid(N_("%(count)s members hold the tier “%(name)s”: it cannot be deleted. Change its "
                             "threshold or recompute the tiers first."), count=held, name=t.name)
        events = int(s.scalar(sa.select(sa.func.count()).where(ClubEvent.min_tier_id == t.id)) or 0)
        if events:
            raise Invalid(N_("%(count)s club events are open to “%(name)s” and above: it cannot be deleted."),
                          count=events, name=t.name)
        name = t.name
        audit.record(s, staff=staff, action="tier.delete", target_type="tier", target_id=t.id, detail=_detail(t),
                     ip=ip)
        s.delete(t)
        return name


def recompute(scope: Scope, staff: StaffUser, ip: str = "", now: datetime | None = None, batch: int = 500) -> int:
    """Refresh the tier of every member of the account now; return how many changed (audited)."""
    _require(scope)
    now = now or db.utcnow()
    changed, last = 0, 0
    while True:
        with db.transaction() as s:
            ids = list(s.scalars(sa.select(Member.id).where(Member.account_id == scope.account_id, Member.id > last)
                                 .order_by(Member.id).limit(batch)))
            for member_id in ids:
                m = s.scalar(sa.select(Member).where(Member.id == member_id).with_for_update())
                if m is not None and tiers.refresh_in(s, m, now) is not None:
                    changed += 1
        if len(ids) < batch:
            break
        last = ids[-1]
    with db.transaction() as s:
        audit.record(s, staff=staff, action="tier.recompute", target_type="account", target_id=scope.account_id,
                     detail={"changed": changed}, ip=ip)
    return changed
