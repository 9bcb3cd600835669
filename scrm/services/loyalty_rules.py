"""Which earning rule applies (a dealer's own over the account's) and the account's points policy.

`resolve` and `settings_of` return rows for pages and editors; the ledger's hot path reads the same
through `rule_of` and `valid_months_of`, frozen snapshots cached in process (see loyalty_cache).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.models import EarningRule, LoyaltySettings, Trigger
from scrm.services import loyalty_cache


@dataclass(frozen=True)
class RuleView:
    """What the ledger needs of an active rule."""

    id: int
    points: int
    per_amount: int | None
    daily_cap: int | None
    monthly_cap: int | None


def resolve(s: Session, account_id: int, dealer_id: int | None, trigger: Trigger) -> EarningRule | None:
    """The active rule for `trigger`: the dealer's own when it has one, else the account-wide one."""
    rows = list(s.scalars(sa.select(EarningRule).where(
        EarningRule.account_id == account_id, EarningRule.trigger == trigger,
        sa.or_(EarningRule.dealer_id.is_(None), EarningRule.dealer_id == dealer_id))))
    own = next((r for r in rows if dealer_id is not None and r.dealer_id == dealer_id), None)
    rule = own or next((r for r in rows if r.dealer_id is None), None)
    return rule if rule is not None and rule.active else None


def rule_of(s: Session, account_id: int, dealer_id: int | None, trigger: Trigger) -> RuleView | None:
    """`resolve` as a cached snapshot (the ledger's hot path)."""
    def load() -> RuleView | None:
        r = resolve(s, account_id, dealer_id, trigger)
        return None if r is None else RuleView(r.id, r.points, r.per_amount, r.daily_cap, r.monthly_cap)
    return loyalty_cache.cached(("rule", account_id, dealer_id, trigger), load)


def points_for(rule: EarningRule | RuleView, amount: float | None = None) -> int:
    """The points a rule pays: fixed, or `points` per `per_amount` yuan of `amount` (rounded down)."""
    if rule.per_amount:
        if amount is None or amount <= 0:
            return 0
        return math.floor(amount / rule.per_amount) * rule.points
    return rule.points


def settings_of(s: Session, account_id: int) -> LoyaltySettings:
    """The account's policy (defaults when it has no row; the default row is not stored)."""
    row = s.scalar(sa.select(LoyaltySettings).where(LoyaltySettings.account_id == account_id))
    return row or LoyaltySettings(account_id=account_id, valid_months=24, expiry_warning_days=30,
                                  tier_warning_days=30)


def valid_months_of(s: Session, account_id: int) -> int:
    """How many months an earned lot lasts in the account (cached)."""
    return loyalty_cache.cached(("valid_months", account_id), lambda: settings_of(s, account_id).valid_months)
