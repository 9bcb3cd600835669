"""The segment compiler against the real database: each operator keeps exactly the contacts it should."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from scrm import db
from scrm.services.accounts import account_id
from scrm.services.errors import Invalid
from scrm.services.segment_compile import Env, audience, normalise
from tests.factories import make_dealer, make_follower
from tests.integration.customer_support import bind, make_customer, make_vehicle

TODAY = date(2026, 6, 15)


def _ids(definition: dict[str, Any], dealer_id: int | None) -> set[tuple[int | None, int | None]]:
    env = Env(postgres=db.is_postgres(), today=TODAY, tz=ZoneInfo("Asia/Shanghai"))
    q = audience(normalise(definition), account_id=account_id("demo"), dealer_id=dealer_id, env=env)
    with db.transaction() as s:
        return {(r.customer_id, r.follower_id) for r in s.execute(q)}


def _all(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"match": "all", "rules": list(rules)}


@pytest.fixture()
def world(app_ctx: Any) -> dict[str, Any]:
    d, other = make_dealer(), make_dealer()
    fa, fb, fc = make_follower(dealer_id=d.id), make_follower(dealer_id=d.id), make_follower(dealer_id=d.id)
    fb_unsub = make_follower(dealer_id=d.id, subscribed=False)
    a = make_customer(d, city="上海", tags=["VIP", "试驾"], stage="owner")
    b = make_customer(d, city="北京", tags=["VIP"], stage="prospect")
    c = make_customer(d, city="上海", tags=[], stage="owner")
    x = make_customer(other, city="上海", tags=["VIP"])
    make_vehicle(a, model="Model Y", purchase_date=TODAY - timedelta(days=800),
                 last_service_date=TODAY - timedelta(days=400),
                 mileage=30000, insurance_expiry=TODAY + timedelta(days=20))
    make_vehicle(b, model="Model 3", purchase_date=TODAY - timedelta(days=100),
                 last_service_date=TODAY - timedelta(days=20),
                 mileage=5000)
    bind(a, fa)
    bind(b, fb_unsub)
    return dict(d=d, other=other, a=a, b=b, c=c, x=x, fa=fa, fb=fb, fc=fc, fb_unsub=fb_unsub)


def test_customer_fields_and_scope(world: dict[str, Any]) -> None:
    w = world
    got = _ids(_all({"field": "city", "op": "eq", "value": "上海"}), w["d"].id)
    assert got == {(w["a"].id, w["fa"].id), (w["c"].id, None)}
    got = _ids(_all({"field": "tags", "op": "has_any", "value": ["VIP"]}), None)
    assert {c for c, _ in got} == {w["a"].id, w["b"].id, w["x"].id}
    got = _ids(_all({"field": "tags", "op": "has_all", "value": ["VIP", "试驾"]}), w["d"].id)
    assert {c for c, _ in got} == {w["a"].id}
    got = _ids(_all({"field": "tags", "op": "has_none", "value": ["VIP"]}), w["d"].id)
    assert {c for c, _ in got} == {w["c"].id}


def test_vehicle_fields(world: dict[str, Any]) -> None:
    w = world
    assert {c for c, _ in _ids(_all({"field": "vehicle_age", "op": "gt", "value": 2}), w["d"].id)} == {w["a"].id}
    got = _ids(_all({"field": "last_service", "op": "not_within_last_days", "value": 365}), w["d"].id)
    assert {c for c, _ in got} == {w["a"].id}
    got = _ids(_all({"field": "insurance_expiry", "op": "within_next_days", "value": 30}), w["d"].id)
    assert {c for c, _ in got} == {w["a"].id}
    got = _ids({"match": "any", "rules": [{"field": "mileage", "op": "gte", "value": 20000},
                                          {"field": "model", "op": "contains", "value": "3"}]}, w["d"].id)
    assert {c for c, _ in got} == {w["a"].id, w["b"].id}


def test_unbound_followers_only_when_the_definition_allows(world: dict[str, Any]) -> None:
    w = world
    got = _ids(_all({"field": "bound", "op": "is", "value": False}), w["d"].id)
    assert (None, w["fb"].id) in got and (None, w["fc"].id) in got and (w["c"].id, None) in got
    assert all(f != w["fa"].id for _, f in got)
    got = _ids(_all({"field": "bound", "op": "is", "value": False},
                    {"field": "subscribed", "op": "is", "value": True}), w["d"].id)
    assert got == {(None, w["fb"].id), (None, w["fc"].id)}


def test_bad_definitions_are_refused() -> None:
    with pytest.raises(Invalid):
        normalise({"match": "all", "rules": []})
    with pytest.raises(Invalid):
        normalise(_all({"field": "nope", "op": "eq", "value": 1}))
    with pytest.raises(Invalid):
        normalise(_all({"field": "city", "op": "gt", "value": 1}))
    with pytest.raises(Invalid):
        normalise(_all({"field": "purchase_date", "op": "before", "value": "yesterday"}))
    with pytest.raises(Invalid):
        normalise(_all({"field": "dealer", "op": "in", "value": [1]}), brand=False)


def test_contains_and_followers_of_a_saved_segment(world: dict[str, Any]) -> None:
    from scrm.models import Segment
    from scrm.services import segments

    w = world
    with db.transaction() as s:
        seg = Segment(account_id=account_id("demo"), dealer_id=w["d"].id, name="上海",
                      definition=normalise(_all({"field": "tags", "op": "has_any", "value": ["VIP"]})))
        s.add(seg)
        s.flush()
        assert segments.contains(s, seg, w["fa"].id)                 # bound to a VIP customer
        assert segments.contains(s, seg, w["fb_unsub"].id)           # in the segment, though not reachable
        assert not segments.contains(s, seg, w["fc"].id)             # never bound
        assert [f for f, _ in segments.followers(s, seg)] == [w["fa"].id]   # fb_unsub no longer follows
        seg.dealer_id = w["other"].id                                # x is VIP there, but has no follower
        assert not segments.contains(s, seg, w["fa"].id)


def test_vehicle_conditions_of_a_group_are_about_one_vehicle(world: dict[str, Any]) -> None:
    w = world
    two_cars = make_customer(w["d"], city="杭州", tags=[])
    make_vehicle(two_cars, model="旧车", purchase_date=TODAY - timedelta(days=2000),
                 last_service_date=TODAY - timedelta(days=10))
    make_vehicle(two_cars, model="新车", purchase_date=TODAY - timedelta(days=30), last_service_date=None)
    old_and_unserviced = _all({"field": "vehicle_age", "op": "gt", "value": 2},
                              {"field": "last_service", "op": "not_within_last_days", "value": 365})
    got = {c for c, _ in _ids(old_and_unserviced, w["d"].id)}
    assert w["a"].id in got and two_cars.id not in got      # no single car of theirs is both
    either = {"match": "any", "rules": old_and_unserviced["rules"]}
    assert two_cars.id in {c for c, _ in _ids(either, w["d"].id)}
