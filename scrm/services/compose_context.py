"""What a message template sees about its recipient, loaded in bulk for many recipients at once.

`contexts` loads them for (customer, follower) pairs; `delivery_contexts` for outbox rows of a campaign, in
one joined query (streamed with a server-side cursor when asked), each row a few plain dicts: the send
worker's batches and a whole campaign (bench/campaign.py) load them the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.models import Customer, Dealer, Delivery, Member, Tier, Vehicle
from scrm.readahead import read_ahead
from scrm.services.compose_env import salutation

SERVICE_INTERVAL = timedelta(days=182)   # the next service is estimated six months after the last one
FETCH_ROWS = 5000                        # rows per server-side cursor fetch of a whole campaign


_CUSTOMER_COLS = (Customer.id, Customer.dealer_id, Customer.name, Customer.gender, Customer.city,
                  Customer.birthday, Customer.stage)
_VEHICLE_COLS = (Vehicle.customer_id, Vehicle.model, Vehicle.brand, Vehicle.plate, Vehicle.purchase_date,
                 Vehicle.mileage, Vehicle.last_service_date, Vehicle.insurance_expiry)


def vehicle_context(v: Any | None) -> dict[str, Any] | None:
    """The `vehicle` variable of a message, from a Vehicle (or a row with its columns)."""
    if v is None:
        return None
    base = v.last_service_date or v.purchase_date
    return {"model": v.model or "", "brand": v.brand or "", "plate": v.plate or "",
            "purchase_date": v.purchase_date, "mileage": v.mileage, "last_service_date": v.last_service_date,
            "insurance_expiry": v.insurance_expiry, "next_service_date": base + SERVICE_INTERVAL if base else None}


def _customer(c: Any | None, language: str) -> dict[str, Any]:
    if c is None:
        return {"name": "", "surname": "", "salutation": salutation("", "", language), "city": "",
                "birthday": None, "stage": ""}
    gender = c.gender.value if c.gender else ""
    return {"name": c.name or "", "surname": (c.name or "")[:1], "salutation": salutation(c.name, gender, language),
            "city": c.city or "", "birthday": c.birthday, "stage": c.stage.value if c.stage else ""}


def dealer_context(d: Dealer | None) -> dict[str, Any] | None:
    """The `dealer` variable of a message."""
    if d is None:
        return None
    return {"name": d.name, "phone": d.phone, "address": d.address, "city": d.city}


def contexts(s: Session, recipients: Iterable[tuple[int | None, int]], *, dealer_id: int | None, today: date,
             language: str = "zh") -> dict[int, dict[str, Any]]:
    """follower_id -> template context, for (customer_id or None, follower_id) pairs, in four queries."""
    pairs = list(recipients)
    customer_ids = {c for c, _ in pairs if c is not None}
    follower_ids = {f for _, f in pairs}
    # Plain column rows, not ORM objects: a campaign renders hundreds of thousands of these.
    customers = {c.id: c for c in s.execute(sa.select(*_CUSTOMER_COLS).where(Customer.id.in_(customer_ids)))} \
        if customer_ids else {}
    vehicles: dict[int, Any] = {}
    if customer_ids:
        for v in s.execute(sa.select(*_VEHICLE_COLS).where(Vehicle.customer_id.in_(customer_ids))
                           .order_by(Vehicle.customer_id, Vehicle.purchase_date.desc().nulls_last(),
                                     Vehicle.id.desc())):
            vehicles.setdefault(v.customer_id, v)   # the newest car
    members: dict[int, dict[str, Any]] = {}
    if follower_ids:
        rows = s.execute(sa.select(Member.follower_id, Member.balance, Member.referral_code, Tier.name)
                         .outerjoin(Tier, Tier.id == Member.tier_id).where(Member.follower_id.in_(follower_ids)))
        members = {r[0]: {"balance": r[1], "referral_code": r[2], "tier": r[3] or ""} for r in rows}
    dealer_ids = {c.dealer_id for c in customers.values()} | ({dealer_id} if dealer_id else set())
    dealers = {d.id: d for d in s.scalars(sa.select(Dealer).where(Dealer.id.in_(dealer_ids)))} if dealer_ids else {}
    out: dict[int, dict[str, Any]] = {}
    for customer_id, follower_id in pairs:
        c = customers.get(customer_id) if customer_id is not None else None
        d = dealers.get(c.dealer_id) if c is not None else dealers.get(dealer_id or 0)
        out[follower_id] = {"customer": _customer(c, language),
                            "vehicle": vehicle_context(vehicles.get(customer_id or 0)),
                            "member": members.get(follower_id) or {"balance": 0, "tier": "", "referral_code": ""},
                            "dealer": dealer_context(d), "today": today}
    return out


def _newest_vehicle(customer_id: Any) -> Any:
    """The id of the customer's newest car (the one `contexts` picks), as a correlated scalar subquery."""
    return (sa.select(Vehicle.id).where(Vehicle.customer_id == customer_id)
            .order_by(Vehicle.purchase_date.desc().nulls_last(), Vehicle.id.desc()).limit(1).scalar_subquery())


def _newest_vehicles(account_id: int) -> Any:
    """The account's cars ranked newest first per customer (`rank` 1 is the one `contexts` picks)."""
    rank = sa.func.row_number().over(partition_by=Vehicle.customer_id,
                                     order_by=(Vehicle.purchase_date.desc().nulls_last(), Vehicle.id.desc()))
    return (sa.select(*_VEHICLE_COLS, Vehicle.id, rank.label("rank"))
            .where(Vehicle.account_id == account_id).subquery("v"))


def _delivery_query(where: Any, dealer_id: int | None, whole_account: int | None) -> Any:
    """One row per delivery: its recipient's customer, newest car, member, tier and dealer columns.

    For a few rows each car is found through the vehicles' customer index, in delivery id order; for a whole
    campaign (`whole_account`: its account) the account's cars are ranked once, in the customer index's order,
    and hash-joined, the rows in no particular order (sorting a million wide rows would spill to disk).
    """
    customer_id = Delivery.payload[("render", "customer_id")].as_integer()
    if whole_account is not None:
        v = _newest_vehicles(whole_account)
        car = sa.and_(v.c.customer_id == Customer.id, v.c.rank == 1)
    else:
        v = sa.select(*_VEHICLE_COLS, Vehicle.id).subquery("v")
        car = v.c.id == _newest_vehicle(Customer.id)
    dealer_of = sa.case((Customer.id.is_(None), sa.literal(dealer_id, sa.Integer)), else_=Customer.dealer_id)
    q = (sa.select(Delivery.id, Delivery.follower_id, Delivery.arm, *_CUSTOMER_COLS[2:], Customer.id, v.c.id,
                   *(v.c[col.key] for col in _VEHICLE_COLS[1:]),
                   Member.follower_id, Member.balance, Member.referral_code, Tier.name,
                   Dealer.id, Dealer.name, Dealer.phone, Dealer.address, Dealer.city)
         .outerjoin(Customer, Customer.id == customer_id)
         .outerjoin(v, car)
         .outerjoin(Member, Member.follower_id == Delivery.follower_id)
         .outerjoin(Tier, Tier.id == Member.tier_id)
         .outerjoin(Dealer, Dealer.id == dealer_of)
         .where(where))
    return q if whole_account is not None else q.order_by(Delivery.id)


def _streamed(result: sa.CursorResult[Any]) -> Iterator[Any]:
    """The rows of a streamed result, the next batch fetched on a thread while the caller builds and renders
    contexts from this one. Only that thread touches the connection until it has ended."""
    ahead = read_ahead(result.partitions(), name="contexts-read-ahead")
    try:
        for batch in ahead:
            yield from batch
    finally:
        ahead.close()


def delivery_contexts(s: Session, where: Any, *, dealer_id: int | None, today: date, language: str = "zh",
                      whole_account: int | None = None) -> Iterator[tuple[int, int, str, dict[str, Any]]]:
    """(delivery id, follower id, arm, context) of the outbox rows matching `where`, in one query.

    The same contexts as `contexts` gives for each row's (payload customer_id, follower_id), with the
    campaign's `dealer_id` for a row without a customer. A few rows come in id order; a whole campaign
    (`whole_account`: the account it belongs to) streams in no set order through a server-side cursor. Plain
    Core rows, not the ORM's. A dealer's context is built once and shared by its recipients: read-only.
    """
    stmt = _delivery_query(where, dealer_id, whole_account)
    conn = s.connection()
    if whole_account is not None and conn.dialect.name == "postgresql":
        # A cursor is planned for its first 10 % of rows by default: nested loops that rescan the ranked cars
        # for every row. Plan for all of them (hash joins), for the rest of this transaction.
        conn.exec_driver_sql("SET LOCAL cursor_tuple_fraction = 1")
    result: Iterable[Any] = conn.execute(stmt) if whole_account is None \
        else _streamed(conn.execution_options(yield_per=FETCH_ROWS).execute(stmt))
    dealers: dict[int, dict[str, Any]] = {}
    no_customer = _customer(None, language)
    for (delivery_id, follower_id, arm, name, gender, city, birthday, stage, c_id, v_id, model, brand, plate,
         purchase_date, mileage, last_service, insurance, m_follower, balance, referral_code, tier,
         d_id, d_name, d_phone, d_address, d_city) in result:
        if c_id is None:
            customer = dict(no_customer)
        else:
            customer = {"name": name or "", "surname": (name or "")[:1],
                        "salutation": salutation(name, gender.value if gender else "", language),
                        "city": city or "", "birthday": birthday, "stage": stage.value if stage else ""}
        vehicle = None
        if v_id is not None:
            base = last_service or purchase_date
            vehicle = {"model": model or "", "brand": brand or "", "plate": plate or "",
                       "purchase_date": purchase_date, "mileage": mileage, "last_service_date": last_service,
                       "insurance_expiry": insurance, "next_service_date": base + SERVICE_INTERVAL if base else None}
        member = {"balance": balance, "referral_code": referral_code, "tier": tier or ""} \
            if m_follower is not None else {"balance": 0, "tier": "", "referral_code": ""}
        dealer = None
        if d_id is not None:
            dealer = dealers.get(d_id)
            if dealer is None:
                dealer = dealers[d_id] = {"name": d_name, "phone": d_phone, "address": d_address, "city": d_city}
        yield delivery_id, follower_id, arm, {"customer": customer, "vehicle": vehicle, "member": member,
                                              "dealer": dealer, "today": today}
