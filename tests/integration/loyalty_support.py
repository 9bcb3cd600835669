"""Test rows for loyalty: members, rules and tiers."""

from __future__ import annotations

from typing import Any

from scrm import db
from scrm.models import EarningRule, Member, Tier, Trigger
from scrm.services import ledger
from scrm.services.accounts import account_id
from tests.factories import make_follower


def make_member(**follower: Any) -> Member:
    """A follower and its member row."""
    f = make_follower(**follower)
    with db.transaction() as s:
        m = ledger.member_in(s, f.id)
    return m


def make_rule(trigger: Trigger, points: int, account: str = "demo", **kw: Any) -> EarningRule:
    """An earning rule (account-wide unless `dealer_id` is given)."""
    with db.transaction() as s:
        r = EarningRule(account_id=account_id(account), trigger=trigger, points=points, **kw)
        s.add(r)
    return r


def make_tiers(account: str = "demo") -> list[Tier]:
    """Silver at 0, gold at 1,000, platinum at 5,000 points earned over 12 months."""
    with db.transaction() as s:
        tiers = [Tier(account_id=account_id(account), code=c, name=n, threshold=t, sort_order=i,
                      benefits=f"{n}权益")
                 for i, (c, n, t) in enumerate([("silver", "银卡", 0), ("gold", "金卡", 1000),
                                                ("platinum", "白金卡", 5000)])]
        s.add_all(tiers)
    return tiers
