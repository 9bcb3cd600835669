"""Segment counts: the four figures match the audience's rows whatever join plan is chosen, for every kind of
condition the compiler writes (the plan choice EXPLAINs the compiled query with its parameters)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Customer
from scrm.services import segments
from scrm.services.accounts import account_id
from scrm.services.segment_compile import Env, audience, normalise
from scrm.services.segment_plan import count_plan
from tests.factories import make_dealer, make_follower
from tests.integration.customer_support import bind, make_customer, make_vehicle

TODAY = date(2026, 6, 15)
OLD = dict(purchase_date=TODAY - timedelta(days=1000), last_service_date=TODAY - timedelta(days=400))
NEW = dict(purchase_date=TODAY - timedelta(days=100), last_service_date=TODAY - timedelta(days=20))


def _all(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"match": "all", "rules": list(rules)}


DEFINITIONS = [
    _all({"field": "city", "op": "in", "value": ["上海", "北京"]}, {"field": "vehicle_age", "op": "gt", "value": 2},
         {"field": "last_service", "op": "not_within_last_days", "value": 180}),
    _all({"field": "stage", "op": "in", "value": ["owner", "prospect"]}),
    _all({"field": "subscribed", "op": "is", "value": True}),
    _all({"field": "bound", "op": "is", "value": False}),
    _all({"field": "tags", "op": "has_any", "value": ["VIP", "试驾"]},
         {"field": "model", "op": "contains", "value": "3%_"}),
    {"match": "any", "rules": [{"field": "city", "op": "eq", "value": "北京"},
                               {"field": "last_interaction", "op": "within_last_days", "value": 30},
                               {"field": "tier", "op": "in", "value": ["gold"]},
                               {"field": "bookings_made", "op": "gte", "value": 1, "days": 90}]},
    _all({"field": "purchase_date", "op": "between", "value": ["2020-01-01", "2026-01-01"]},
         {"field": "balance", "op": "lt", "value": 100}, {"field": "churn_band", "op": "in", "value": ["high"]}),
]


@pytest.fixture()
def world(app_ctx: Any) -> dict[str, Any]:
    """Customers with no, one and two followers; a follower bound at two dealers; unsubscribed, opted-out and
    unbound followers."""
    d, other = make_dealer(), make_dealer()
    fa, fb = make_follower(dealer_id=d.id), make_follower(dealer_id=d.id, opt_out_marketing=True)
    fc, fu = make_follower(dealer_id=d.id, subscribed=False), make_follower(dealer_id=d.id)
    make_follower(dealer_id=d.id, subscribed=False)
    a = make_customer(d, city="上海", tags=["VIP"], stage="owner")
    b = make_customer(d, city="北京", stage="prospect")
    c = make_customer(d, city="上海", stage="owner")
    x = make_customer(other, city="上海", tags=["试驾"], stage="owner")
    make_customer(other, city="广州", stage="lead")
    make_vehicle(a, model="Model 3%_", **OLD)
    make_vehicle(a, model="Model Y", **NEW)
    make_vehicle(b, model="Model 3", **NEW)
    make_vehicle(c, **OLD)
    make_vehicle(x, model="Model 3%_", **OLD)
    bind(a, fa)
    bind(a, fb)
    bind(b, fc)
    bind(x, fa)
    return dict(d=d, fu=fu)


def _truth(rows: list[Any]) -> segments.Counts:
    followers = {r.follower_id for r in rows if r.follower_id is not None}
    reachable = {r.follower_id for r in rows if r.follower_id is not None and r.reachable}
    return segments.Counts(len(rows), len({r.customer_id for r in rows if r.customer_id is not None}),
                           len(followers), len(reachable))


@pytest.mark.parametrize("index", range(len(DEFINITIONS)))
def test_counts_match_the_audience_rows(world: dict[str, Any], index: int) -> None:
    env = Env(postgres=db.is_postgres(), today=TODAY, tz=ZoneInfo("Asia/Shanghai"))
    clean = normalise(DEFINITIONS[index])
    for dealer_id in (None, world["d"].id):
        q = audience(clean, account_id=account_id("demo"), dealer_id=dealer_id, env=env)
        with db.transaction() as s:
            expected = _truth(list(s.execute(q)))
            assert segments.count_contacts(s, q.subquery("contacts"), one_dealer=dealer_id is not None) == expected
            assert segments.count_contacts(s, q.subquery("contacts")) == expected


def test_the_plan_follows_the_estimate_and_is_reset(world: dict[str, Any]) -> None:
    if not db.is_postgres():
        pytest.skip("planner settings are PostgreSQL's")

    def settings(s: Any) -> tuple[str, str]:
        row = s.execute(sa.text("SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin')"))
        return tuple(row.one())  # type: ignore[return-value]

    with db.transaction() as s:
        with count_plan(s, sa.select(Customer.id).where(Customer.id == -1)):
            assert settings(s) == ("off", "off")        # a few rows: joined by index
        assert settings(s) == ("on", "on")
        with count_plan(s, sa.select(Customer.id)):
            assert settings(s) == ("off", "on")         # every customer: merge joins allowed
        assert settings(s) == ("on", "on")
