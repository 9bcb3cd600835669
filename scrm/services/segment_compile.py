"""Segment definitions: checked and normalised, then compiled to one SQL query of contacts.

A definition is `{"match": "all"|"any", "rules": [...]}`; each rule is a condition
`{"field", "op", "value"?, "days"?}` or a nested group of the same shape. A contact is a row
`(customer_id, follower_id, dealer_id, reachable)`:

* customers in scope, each with the follower bound to it (if any), and
* followers in scope bound to no customer there, with `customer_id` NULL; this second part is only
  queried when the definition can match someone without a customer record.

`reachable` is true when the contact has a follower who still follows and has not opted out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Session, aliased

from scrm.models import (
    Booking,
    BookingStatus,
    Customer,
    CustomerBinding,
    CustomerScore,
    EventRegistration,
    Follower,
    LinkClick,
    Member,
    Tier,
    Vehicle,
)
from scrm.services.segment_check import normalise
from scrm.services.segment_fields import Field, Kind, Source, field

__all__ = ["Env", "audience", "normalise"]


@dataclass(frozen=True)
class Env:
    """What conditions are compiled against: the dialect, today's date and the time zone."""

    postgres: bool
    today: date
    tz: ZoneInfo

    def start_of(self, day: date) -> datetime:
        """Local midnight of `day`, as aware UTC."""
        return datetime.combine(day, time(0), self.tz).astimezone(UTC)


def audience(definition: dict[str, Any], *, account_id: int, dealer_id: int | None, env: Env) -> Any:
    """A Select of customer_id, follower_id, dealer_id, reachable for everyone the (normalised) definition matches."""
    reachable = sa.and_(Follower.subscribed.is_(True), Follower.opt_out_marketing.is_(False))
    with_customer: Any = (
        sa.select(Customer.id.label("customer_id"), CustomerBinding.follower_id.label("follower_id"),
                  Customer.dealer_id.label("dealer_id"),
                  sa.func.coalesce(CustomerBinding.reachable, sa.false()).label("reachable"))
        .select_from(Customer)
        .outerjoin(CustomerBinding, CustomerBinding.customer_id == Customer.id))
    if _uses_follower(definition):   # the binding carries the follower's id and reachability (migration 0002)
        with_customer = with_customer.outerjoin(Follower, Follower.id == CustomerBinding.follower_id)
    with_customer = with_customer.where(
        Customer.account_id == account_id, Customer.merged_into_id.is_(None), Customer.erased_at.is_(None),
        _node(definition, env, True))
    if _uses_member(definition):
        with_customer = with_customer.outerjoin(Member, Member.follower_id == Follower.id)
    if dealer_id is not None:
        with_customer = with_customer.where(Customer.dealer_id == dealer_id)
    if _may_match_without_customer(definition) is False:
        return with_customer
    binding = sa.select(CustomerBinding.id).where(CustomerBinding.follower_id == Follower.id)
    if dealer_id is not None:
        binding = binding.where(CustomerBinding.dealer_id == dealer_id)
    without: Any = (
        sa.select(sa.cast(sa.null(), sa.Integer).label("customer_id"), Follower.id.label("follower_id"),
                  Follower.dealer_id.label("dealer_id"), reachable.label("reachable"))
        .select_from(Follower)
        .where(Follower.account_id == account_id, ~binding.exists(), _node(definition, env, False)))
    if _uses_member(definition):
        without = without.outerjoin(Member, Member.follower_id == Follower.id)
    if dealer_id is not None:
        without = without.where(Follower.dealer_id == dealer_id)
    return sa.union_all(with_customer, without).subquery("contacts").select()


def _walk(node: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in node.get("rules", []):
        out.extend(_walk(item) if "rules" in item else [item])
    return out


def _uses_member(definition: dict[str, Any]) -> bool:
    return any(_source(r) == Source.MEMBER for r in _walk(definition))


def _uses_follower(definition: dict[str, Any]) -> bool:
    """Whether a customer's conditions read the bound follower's row (all but customer, vehicle, score, dealer
    and "bound" conditions)."""
    own = (Source.CUSTOMER, Source.VEHICLE, Source.SCORE)
    return any(_source(r) not in own and r["field"] not in ("dealer", "bound") for r in _walk(definition))


def _source(rule: dict[str, Any]) -> Source:
    """The source of a normalised rule's field."""
    f = field(rule["field"])
    assert f is not None
    return f.source


def _may_match_without_customer(node: dict[str, Any]) -> bool | None:
    """False when no contact without a customer record can match (three-valued: None = maybe)."""
    values: list[bool | None] = []
    for item in node["rules"]:
        if "rules" in item:
            values.append(_may_match_without_customer(item))
        elif item["field"] == "dealer":
            values.append(None)
        elif _source(item) in (Source.CUSTOMER, Source.VEHICLE, Source.SCORE):
            values.append(False)
        elif item["field"] == "bound":
            values.append(not item["value"])
        else:
            values.append(None)
    if node["match"] == "all":
        return False if False in values else (True if values and all(values) else None)
    return True if True in values else (False if values and all(v is False for v in values) else None)


def _node(node: dict[str, Any], env: Env, has_customer: bool) -> sa.ColumnElement[bool]:
    """A group's condition. Its vehicle conditions are about one vehicle ("a car older than 2 years, not
    serviced for 180 days"): they go into one EXISTS over the customer's vehicles, scanned once."""
    combine = sa.and_ if node["match"] == "all" else sa.or_
    on_vehicle = [item for item in node["rules"] if "rules" not in item and _source(item) == Source.VEHICLE]
    parts = [_node(item, env, has_customer) if "rules" in item else _cond(item, env, has_customer)
             for item in node["rules"] if item not in on_vehicle]
    if on_vehicle:
        if not has_customer:
            parts.append(sa.false())
        else:
            conds = [_vehicle_cond(item, env) for item in on_vehicle]
            parts.append(sa.select(Vehicle.id).where(Vehicle.customer_id == Customer.id, combine(*conds)).exists())
    if not parts:
        return sa.true()
    return combine(*parts)


def _cond(rule: dict[str, Any], env: Env, has_customer: bool) -> sa.ColumnElement[bool]:
    f = field(rule["field"])
    assert f is not None
    if f.key == "dealer":
        col = Customer.dealer_id if has_customer else Follower.dealer_id
        return _compare(col, Kind.CHOICE, rule["op"], [int(v) for v in rule["value"]], env)
    if f.source in (Source.CUSTOMER, Source.VEHICLE, Source.SCORE) and not has_customer:
        return sa.false()
    if f.source == Source.SCORE:
        return _score(f, rule, env)
    if f.source == Source.CUSTOMER:
        return _customer(f, rule, env)
    if f.source == Source.MEMBER:
        if f.key == "tier":
            codes = sa.select(Tier.id).where(Tier.code.in_(rule["value"]))
            inside = Member.tier_id.in_(codes)
            return inside if rule["op"] == "in" else sa.or_(Member.tier_id.is_(None), ~inside)
        return _compare(Member.balance, f.kind, rule["op"], rule.get("value"), env)
    if f.key == "bound":
        bound = CustomerBinding.id.isnot(None) if has_customer else sa.false()
        return bound if rule["value"] else sa.not_(bound)
    if f.key == "subscribed":
        sub = sa.func.coalesce(Follower.subscribed, sa.false())
        return sub.is_(True) if rule["value"] else sub.is_(False)
    if f.key == "last_interaction":
        return _compare(Follower.last_interaction_at, Kind.DATE, rule["op"], rule.get("value"), env, stamp=True)
    return _behaviour(f, rule, env, has_customer)


def _customer(f: Field, rule: dict[str, Any], env: Env) -> sa.ColumnElement[bool]:
    op, value = rule["op"], rule.get("value")
    if f.key == "tags":
        return _tags(op, list(value or []), env)
    if f.key == "birthday_month":
        return _compare(sa.extract("month", Customer.birthday), Kind.NUMBER, op, value, env)
    if f.key == "customer_since":
        return _compare(Customer.created_at, Kind.DATE, op, value, env, stamp=True)
    col = {"city": Customer.city, "stage": Customer.stage, "gender": Customer.gender, "source": Customer.source}[f.key]
    return _compare(col, f.kind, op, value, env)


def _score(f: Field, rule: dict[str, Any], env: Env) -> sa.ColumnElement[bool]:
    """A condition on the customer's score row; a customer without one matches only `empty`."""
    col = {"churn_risk": CustomerScore.churn_score, "churn_band": CustomerScore.churn_band,
           "value_segment": CustomerScore.value_segment}[f.key]
    row = sa.select(CustomerScore.id).where(CustomerScore.customer_id == Customer.id)
    if rule["op"] == "empty":
        return ~row.exists()
    if rule["op"] == "not_empty":
        return row.exists()
    return row.where(_compare(col, f.kind, rule["op"], rule.get("value"), env)).exists()


def _vehicle_cond(rule: dict[str, Any], env: Env) -> sa.ColumnElement[bool]:
    """One condition on a vehicle row."""
    f = field(rule["field"])
    assert f is not None
    op, value = rule["op"], rule.get("value")
    if f.key == "vehicle_age":
        cond = _age(op, value, env)
    else:
        col = {"model": Vehicle.model, "brand": Vehicle.brand, "purchase_date": Vehicle.purchase_date,
               "last_service": Vehicle.last_service_date, "mileage": Vehicle.mileage,
               "insurance_expiry": Vehicle.insurance_expiry}[f.key]
        cond = _compare(col, f.kind, op, value, env)
    return cond


def _years_ago(today: date, years: float) -> date:
    return today - timedelta(days=round(365.25 * years))


def _age(op: str, value: Any, env: Env) -> sa.ColumnElement[bool]:
    """Vehicle age in years, as purchase-date comparisons (older = bought earlier)."""
    p = Vehicle.purchase_date
    if op in ("empty", "not_empty"):
        return p.is_(None) if op == "empty" else p.isnot(None)
    if op == "between":
        return sa.and_(p <= _years_ago(env.today, value[0]), p >= _years_ago(env.today, value[1]))
    cutoff = _years_ago(env.today, value)
    return {"gt": p < cutoff, "gte": p <= cutoff, "lt": p > cutoff, "lte": p >= cutoff}[op]


def _tags(op: str, values: list[str], env: Env) -> sa.ColumnElement[bool]:
    if env.postgres:
        tags = sa.func.coalesce(sa.cast(Customer.tags, JSONB), sa.cast(sa.literal("[]"), JSONB))
        arr = sa.cast(sa.literal(values), ARRAY(sa.Text))
        if op == "has_all":
            return tags.op("?&", is_comparison=True)(arr)
        anyof = tags.op("?|", is_comparison=True)(arr)
        return anyof if op == "has_any" else sa.not_(anyof)
    each = sa.func.json_each(Customer.tags).table_valued("value")
    hits = sa.select(sa.func.count(sa.distinct(each.c.value))).where(each.c.value.in_(values)).scalar_subquery()
    if op == "has_all":
        return hits == len(values)
    return hits > 0 if op == "has_any" else hits == 0


def _compare(col: Any, kind: Kind, op: str, value: Any, env: Env, *, stamp: bool = False) -> sa.ColumnElement[bool]:
    """One comparison; `stamp` marks a timestamp column compared with local dates."""
    if op == "empty":
        return col.is_(None) if kind != Kind.TEXT else sa.or_(col.is_(None), col == "")
    if op == "not_empty":
        return col.isnot(None) if kind != Kind.TEXT else sa.and_(col.isnot(None), col != "")
    if kind == Kind.DATE:
        return _date(col, op, value, env, stamp)
    if op in ("in", "not_in"):
        inside = col.in_(value)
        return inside if op == "in" else sa.or_(col.is_(None), ~inside)
    table = {"eq": col == value, "ne": sa.or_(col.is_(None), col != value), "gt": col > value,
             "gte": col >= value, "lt": col < value, "lte": col <= value}
    if op == "contains":
        return col.contains(value, autoescape=True)
    if op == "between":
        return col.between(value[0], value[1])
    return table[op]


def _date(col: Any, op: str, value: Any, env: Env, stamp: bool) -> sa.ColumnElement[bool]:
    def at(day: date) -> Any:
        return env.start_of(day) if stamp else day

    if op == "before":
        return col < at(date.fromisoformat(value))
    if op == "after":
        return col >= at(date.fromisoformat(value) + timedelta(days=1))
    if op == "between":
        first, last = date.fromisoformat(value[0]), date.fromisoformat(value[1])
        return sa.and_(col >= at(first), col < at(last + timedelta(days=1)))
    if op == "within_last_days":
        return sa.and_(col >= at(env.today - timedelta(days=value)), col < at(env.today + timedelta(days=1)))
    if op == "not_within_last_days":
        return sa.or_(col.is_(None), col < at(env.today - timedelta(days=value)))
    # within_next_days
    return sa.and_(col >= at(env.today), col < at(env.today + timedelta(days=value + 1)))


def _behaviour(f: Field, rule: dict[str, Any], env: Env, has_customer: bool) -> sa.ColumnElement[bool]:
    since = env.start_of(env.today - timedelta(days=rule["days"])) if rule.get("days") else None
    if f.key == "events_attended":
        mm = aliased(Member)
        q = (sa.select(sa.func.count()).select_from(EventRegistration).join(mm, mm.id == EventRegistration.member_id)
             .where(mm.follower_id == Follower.id, EventRegistration.checked_in_at.isnot(None)))
        if since is not None:
            q = q.where(EventRegistration.checked_in_at >= since)
    elif f.key == "bookings_made":
        who = Booking.follower_id == Follower.id
        if has_customer:
            who = sa.or_(Booking.customer_id == Customer.id, who)
        q = (sa.select(sa.func.count()).select_from(Booking)
             .where(who, Booking.status != BookingStatus.CANCELLED))
        if since is not None:
            q = q.where(Booking.created_at >= since)
    else:  # link_clicks
        q = sa.select(sa.func.count()).select_from(LinkClick).where(LinkClick.follower_id == Follower.id)
        if since is not None:
            q = q.where(LinkClick.clicked_at >= since)
    n = q.correlate(Follower, Customer).scalar_subquery()
    return {"gte": n >= rule["value"], "lte": n <= rule["value"], "eq": n == rule["value"]}[rule["op"]]


def tune(s: Session) -> None:
    """Room to hash in memory (4 MB spills at 1M customers) and no JIT (~100 ms of a 1 s count), PostgreSQL."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(sa.text("SELECT set_config('work_mem', '64MB', true), set_config('jit', 'off', true)"))
