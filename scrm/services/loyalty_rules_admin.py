"""Earning rules in the admin: the account's rules, per-dealer overrides, and the points validity.

A brand admin edits the account's rules and any dealer's overrides; a dealer manager edits only its
own dealer's overrides (deleting one means "use the account's rule"). Every change is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from scrm import db
from scrm.models import Dealer, EarningRule, EntryKind, LoyaltySettings, PointsEntry, StaffUser, Trigger
from scrm.services import audit, loyalty_rules
from scrm.services.errors import Forbidden, NotFound
from scrm.services.keyword_admin import dealer_choices as dealer_choices  # one definition, shared
from scrm.services.normalize_base import N_
from scrm.services.scope import Perm, Scope
from scrm.services.validation import Problems

audit.ACTIONS.update({
    "loyalty.rule.save": N_("Saved an earning rule"),
    "loyalty.rule.reset": N_("Made a dealer use the account's earning rule"),
    "loyalty.settings.save": N_("Changed the points validity"),
})
MAX_POINTS = 100_000
PAID_DAYS = 30


@dataclass(frozen=True)
class RuleInput:
    """A submitted rule, as typed (the service parses and checks it)."""

    points: str
    per_amount: str = ""
    daily_cap: str = ""
    monthly_cap: str = ""
    streak_days: str = ""
    active: bool = True


@dataclass(frozen=True)
class SettingsInput:
    """A submitted points policy, as typed."""

    valid_months: str
    expiry_warning_days: str


@dataclass(frozen=True)
class RuleRow:
    """One trigger on the page: the account's rule, the dealer's own (if any), what applies, what it paid."""

    trigger: Trigger
    account_rule: EarningRule | None
    own: EarningRule | None
    paid: int

    @property
    def effective(self) -> EarningRule | None:
        """The rule that applies (the dealer's own wins)."""
        return self.own or self.account_rule


def trigger_of(value: str) -> Trigger:
    """The Trigger named `value`, else NotFound."""
    try:
        return Trigger(value)
    except ValueError as exc:
        raise NotFound() from exc


def dealer_in_scope(scope: Scope, dealer_id: int) -> Dealer:
    """A dealer of the scope's account that the scope may see, else NotFound."""
    dealer = db.session.get(Dealer, dealer_id)
    if dealer is None or dealer.account_id != scope.account_id or not scope.dealer_ok(dealer.id):
        raise NotFound()
    return dealer


def can_edit(scope: Scope, dealer_id: int | None) -> bool:
    """True when the scope may change the rules of `dealer_id` (None: the account's)."""
    if not scope.can(Perm.LOYALTY_RULES):
        return False
    return scope.all_dealers if dealer_id is None else scope.dealer_ok(dealer_id)


def _paid(account_id: int, dealer_id: int | None, now: datetime) -> dict[str, int]:
    q = (sa.select(PointsEntry.reason, sa.func.sum(PointsEntry.points))
         .where(PointsEntry.account_id == account_id, PointsEntry.kind == EntryKind.EARN,
                PointsEntry.created_at >= now - timedelta(days=PAID_DAYS))
         .group_by(PointsEntry.reason))
    if dealer_id is not None:
        q = q.where(PointsEntry.dealer_id == dealer_id)
    return {str(reason): int(total or 0) for reason, total in db.session.execute(q)}


def rules(scope: Scope, dealer_id: int | None, now: datetime | None = None) -> list[RuleRow]:
    """Every trigger with the account's rule and `dealer_id`'s own, and what was paid in 30 days."""
    if not scope.can(Perm.LOYALTY_RULES):
        raise Forbidden()
    if dealer_id is not None:
        dealer_in_scope(scope, dealer_id)
    elif not scope.all_dealers:
        raise Forbidden()
    rows = list(db.session.scalars(sa.select(EarningRule).where(
        EarningRule.account_id == scope.account_id,
        sa.or_(EarningRule.dealer_id.is_(None), EarningRule.dealer_id == dealer_id))))
    paid = _paid(scope.account_id, dealer_id, now or db.utcnow())
    return [RuleRow(t, next((r for r in rows if r.trigger == t and r.dealer_id is None), None),
                    next((r for r in rows if r.trigger == t and dealer_id and r.dealer_id == dealer_id), None),
                    paid.get(t.value, 0)) for t in Trigger]


def settings(scope: Scope) -> LoyaltySettings:
    """The account's points policy (defaults when never saved)."""
    return loyalty_rules.settings_of(db.session(), scope.account_id)


def _int(p: Problems, field: str, raw: str, low: int, high: int, message: str, *, optional: bool) -> int | None:
    raw = (raw or "").strip().replace(",", "").replace("，", "")
    if not raw:
        if optional:
            return None
        p.add(field, message, min=low, max=high)
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        p.add(field, message, min=low, max=high)
        return None
    return int(raw)


def parse_rule(trigger: Trigger, data: RuleInput) -> dict[str, object]:
    """The rule's columns from `data`, or FormInvalid listing every problem."""
    p = Problems()
    points = _int(p, "points", data.points, 0, MAX_POINTS, "Points: a whole number from %(min)s to %(max)s.",
                  optional=False)
    per_amount = _int(p, "per_amount", data.per_amount, 1, 1_000_000,
                      "Per amount: a whole number of yuan from %(min)s to %(max)s.",
                      optional=trigger != Trigger.REPAIR_ORDER)
    daily = _int(p, "daily_cap", data.daily_cap, 1, 10 * MAX_POINTS,
                 "Daily cap: empty (no cap) or a whole number from %(min)s to %(max)s.", optional=True)
    monthly = _int(p, "monthly_cap", data.monthly_cap, 1, 100 * MAX_POINTS,
                   "Monthly cap: empty (no cap) or a whole number from %(min)s to %(max)s.", optional=True)
    days = _int(p, "streak_days", data.streak_days, 2, 365, "Streak days: a whole number from %(min)s to %(max)s.",
                optional=trigger != Trigger.STREAK_BONUS)
    if daily is not None and monthly is not None and monthly < daily:
        p.add("monthly_cap", "The monthly cap cannot be smaller than the daily cap.")
    p.raise_if_any()
    return {"points": points, "per_amount": per_amount if trigger == Trigger.REPAIR_ORDER else None,
            "daily_cap": daily, "monthly_cap": monthly, "active": bool(data.active),
            "params": {"days": days} if trigger == Trigger.STREAK_BONUS else {}}


def save_rule(staff: StaffUser, trigger: Trigger, dealer_id: int | None, data: RuleInput, ip: str = "") -> EarningRule:
    """Create or update the account's rule (dealer_id None) or a dealer's override; audited."""
    scope = Scope.of(staff)
    if dealer_id is not None:
        dealer_in_scope(scope, dealer_id)
    if not can_edit(scope, dealer_id):
        raise Forbidden()
    values = parse_rule(trigger, data)
    with db.transaction() as s:
        row = s.scalar(sa.select(EarningRule).where(
            EarningRule.account_id == scope.account_id, EarningRule.trigger == trigger,
            EarningRule.dealer_id.is_(None) if dealer_id is None else EarningRule.dealer_id == dealer_id)
            .with_for_update())
        before = _snapshot(row)
        if row is None:
            row = EarningRule(account_id=scope.account_id, dealer_id=dealer_id, trigger=trigger)
            s.add(row)
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = db.utcnow()
        s.flush()
        audit.record(s, staff=staff, action="loyalty.rule.save", target_type="earning_rule", target_id=row.id,
                     ip=ip, dealer_id=dealer_id if dealer_id is not None else staff.dealer_id,
                     detail={"trigger": trigger.value, "dealer_id": dealer_id, "before": before,
                             "after": _snapshot(row)})
        return row


def reset_rule(staff: StaffUser, trigger: Trigger, dealer_id: int, ip: str = "") -> bool:
    """Delete the dealer's own rule so the account's applies; False when it had none. Audited."""
    scope = Scope.of(staff)
    dealer_in_scope(scope, dealer_id)
    if not can_edit(scope, dealer_id):
        raise Forbidden()
    with db.transaction() as s:
        row = s.scalar(sa.select(EarningRule).where(
            EarningRule.account_id == scope.account_id, EarningRule.trigger == trigger,
            EarningRule.dealer_id == dealer_id).with_for_update())
        if row is None:
            return False
        audit.record(s, staff=staff, action="loyalty.rule.reset", target_type="earning_rule", target_id=row.id,
                     ip=ip, dealer_id=dealer_id, detail={"trigger": trigger.value, "before": _snapshot(row)})
        s.delete(row)
        return True


def save_settings(staff: StaffUser, data: SettingsInput, ip: str = "") -> LoyaltySettings:
    """Change the account's points validity (brand admin); audited."""
    scope = Scope.of(staff)
    if not (scope.can(Perm.LOYALTY_RULES) and scope.all_dealers):
        raise Forbidden()
    p = Problems()
    months = _int(p, "valid_months", data.valid_months, 1, 120,
                  "Validity: a whole number of months from %(min)s to %(max)s.", optional=False)
    warn = _int(p, "expiry_warning_days", data.expiry_warning_days, 0, 365,
                "Warning: a whole number of days from %(min)s to %(max)s.", optional=False)
    p.raise_if_any()
    assert months is not None and warn is not None
    with db.transaction() as s:
        row = s.scalar(sa.select(LoyaltySettings).where(LoyaltySettings.account_id == scope.account_id)
                       .with_for_update())
        if row is None:
            row = LoyaltySettings(account_id=scope.account_id, valid_months=24, expiry_warning_days=30,
                                  tier_warning_days=30)
            s.add(row)
        before = {"valid_months": row.valid_months, "expiry_warning_days": row.expiry_warning_days}
        row.valid_months, row.expiry_warning_days, row.updated_at = months, warn, db.utcnow()
        s.flush()
        audit.record(s, staff=staff, action="loyalty.settings.save", target_type="loyalty_settings",
                     target_id=row.id, ip=ip, detail={"before": before, "after": {
                         "valid_months": months, "expiry_warning_days": warn}})
        return row


def _snapshot(row: EarningRule | None) -> dict[str, object] | None:
    if row is None:
        return None
    return {"points": row.points, "per_amount": row.per_amount, "daily_cap": row.daily_cap,
            "monthly_cap": row.monthly_cap, "params": dict(row.params or {}), "active": row.active}
