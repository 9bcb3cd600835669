"""Checking segment definitions: every kind's good and bad values, nesting and rule limits, brand-only fields."""

from __future__ import annotations

from typing import Any

import pytest

from scrm.services.errors import Invalid
from scrm.services.segment_check import normalise
from scrm.services.segment_fields import FIELDS, MAX_DEPTH, MAX_RULES, OPS


def _one(rule: dict[str, Any], brand: bool = True) -> dict[str, Any]:
    return normalise({"match": "all", "rules": [rule]}, brand=brand)["rules"][0]


def _bad(rule: dict[str, Any], brand: bool = True) -> Invalid:
    with pytest.raises(Invalid) as exc:
        _one(rule, brand)
    return exc.value


@pytest.mark.parametrize(("rule", "expected"), [
    ({"field": "city", "op": "eq", "value": " 上海 "}, "上海"),
    ({"field": "city", "op": "in", "value": "上海，北京, 上海"}, ["上海", "北京"]),
    ({"field": "stage", "op": "in", "value": ["owner", "lead"]}, ["owner", "lead"]),
    ({"field": "tags", "op": "has_all", "value": ["VIP", " 试驾 "]}, ["VIP", "试驾"]),
    ({"field": "mileage", "op": "gte", "value": "20000"}, 20000),
    ({"field": "vehicle_age", "op": "lt", "value": "2.5"}, 2.5),
    ({"field": "mileage", "op": "between", "value": ["100", 200]}, [100, 200]),
    ({"field": "purchase_date", "op": "before", "value": "2024-01-31"}, "2024-01-31"),
    ({"field": "purchase_date", "op": "between", "value": ["2024-01-01", "2024-12-31"]}, ["2024-01-01", "2024-12-31"]),
    ({"field": "last_service", "op": "not_within_last_days", "value": "180"}, 180),
    ({"field": "bound", "op": "is", "value": "false"}, False),
    ({"field": "subscribed", "op": "is", "value": True}, True),
    ({"field": "bookings_made", "op": "gte", "value": "2"}, 2),
    ({"field": "dealer", "op": "in", "value": ["3", 4]}, ["3", "4"]),
])
def test_good_values_are_normalised(rule: dict[str, Any], expected: Any) -> None:
    assert _one(rule)["value"] == expected


@pytest.mark.parametrize("rule", [
    {"field": "city", "op": "eq", "value": "  "},
    {"field": "city", "op": "in", "value": []},
    {"field": "city", "op": "in", "value": [str(n) for n in range(201)]},
    {"field": "stage", "op": "eq", "value": "owner"},
    {"field": "tags", "op": "in", "value": ["VIP"]},
    {"field": "mileage", "op": "gte", "value": "many"},
    {"field": "mileage", "op": "gte", "value": "1e13"},
    {"field": "mileage", "op": "between", "value": [300, 200]},
    {"field": "mileage", "op": "between", "value": 200},
    {"field": "purchase_date", "op": "after", "value": "2024-02-30"},
    {"field": "purchase_date", "op": "between", "value": ["2024-12-31", "2024-01-01"]},
    {"field": "purchase_date", "op": "within_last_days", "value": "-1"},
    {"field": "bound", "op": "is", "value": "maybe"},
    {"field": "bookings_made", "op": "gte", "value": "-1"},
    {"field": "bookings_made", "op": "gte", "value": "1", "days": "0"},
    {"field": "dealer", "op": "in", "value": ["x"]},
    {"field": "nope", "op": "eq", "value": "1"},
    {"field": "city", "op": "gt", "value": "1"},
    "city = 上海",
])
def test_bad_values_are_refused(rule: Any) -> None:
    with pytest.raises(Invalid):
        normalise({"match": "all", "rules": [rule]})


def test_every_field_accepts_each_of_its_operators() -> None:
    samples = {"text": "x", "choice": ["owner"], "tags": ["VIP"], "number": "5", "date": "2025-05-05",
               "bool": True, "count": "1"}
    for f in FIELDS:
        for op in OPS[f.kind]:
            value: Any = samples[f.kind.value]
            if op == "between":
                value = ["2025-01-01", "2025-02-01"] if f.kind.value == "date" else ["1", "2"]
            elif op in ("within_last_days", "not_within_last_days", "within_next_days"):
                value = "7"
            elif f.key == "dealer":
                value = ["1"]
            elif op in ("in", "not_in") and f.kind.value == "text":
                value = ["a"]
            rule = _one({"field": f.key, "op": op, "value": value})
            assert rule["field"] == f.key and rule["op"] == op
            assert ("value" in rule) == (op not in ("empty", "not_empty"))


def test_messages_name_the_field() -> None:
    exc = _bad({"field": "purchase_date", "op": "before", "value": "yesterday"})
    assert exc.message == "Enter dates as YYYY-MM-DD for “%(field)s”." and exc.params == {"field_key": "purchase_date"}
    assert _bad({"field": "mileage", "op": "contains", "value": "1"}).message == "Choose a condition for “%(field)s”."


def test_count_days_are_optional_and_value_less_ops_drop_the_value() -> None:
    assert "days" not in _one({"field": "link_clicks", "op": "gte", "value": "1", "days": ""})
    assert _one({"field": "link_clicks", "op": "gte", "value": "1", "days": "30"})["days"] == 30
    assert _one({"field": "city", "op": "empty", "value": "ignored"}) == {"field": "city", "op": "empty"}


def test_dealer_field_is_for_brand_admins_only() -> None:
    rule = {"field": "dealer", "op": "in", "value": ["1"]}
    assert _one(rule, brand=True)["value"] == ["1"]
    assert _bad(rule, brand=False).message == "Unknown field: %(name)s"


def _nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"match": "any", "rules": [{"field": "city", "op": "eq", "value": "上海"}]}
    for _ in range(depth - 1):
        node = {"match": "all", "rules": [node]}
    return node


def test_nesting_limit() -> None:
    assert normalise(_nested(MAX_DEPTH))["rules"][0]["match"] == "all"
    with pytest.raises(Invalid) as exc:
        normalise(_nested(MAX_DEPTH + 1))
    assert exc.value.message == "Groups can be nested at most %(n)s deep."


def test_rule_limit_and_empty_definitions() -> None:
    rule = {"field": "city", "op": "eq", "value": "上海"}
    assert len(normalise({"match": "all", "rules": [rule] * MAX_RULES})["rules"]) == MAX_RULES
    with pytest.raises(Invalid):
        normalise({"match": "all", "rules": [rule] * (MAX_RULES + 1)})
    with pytest.raises(Invalid) as exc:
        normalise({"match": "all", "rules": [{"match": "any", "rules": []}]})
    assert exc.value.message == "Add at least one condition."
    cleaned = normalise({"match": "any", "rules": [{"match": "all", "rules": []}, rule]})
    assert cleaned == {"match": "any", "rules": [rule]}          # empty groups are dropped
    bad: Any
    for bad in (None, [], {"rules": "x"}, {"match": "some", "rules": [rule]}):
        with pytest.raises(Invalid):
            normalise(bad)
