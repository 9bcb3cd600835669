"""Which earning rule applies (a dealer's own over the account's) and the account's points policy."""

from __future__ import annotations

import math

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.models import EarningRule, LoyaltySettings, Trigger


def resolve(s: Session, account_id: int, dealer_id: int | None, trigger: Trigger) -> EarningRule | None:
    """The active rule for `trigger`: the dealer's own when it has one, else the account-wide one."""
    rows = list(s.scalars(sa.select(EarningRule).where(
        EarningRule.account_id == account_id, EarningRule.trigger == trigger,
        sa.or_(EarningRule.dealer_id.is_(None), EarningRule.dealer_id == dealer_id))))
    own = next((r for r in rows if dealer_id is not None and r.dealer_id == dealer_id), None)
    rule = own or next((r for r in rows if r.dealer_id is None), None)
    return rule if rule is not None and rule.active else None


def points_for(rule: EarningRule, amount: float | None = None) -> int:
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
