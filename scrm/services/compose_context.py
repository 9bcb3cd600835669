"""What a message template sees about its recipient, loaded in bulk for many recipients at once."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.models import Customer, Dealer, Member, Tier, Vehicle
from scrm.services.compose_env import salutation

SERVICE_INTERVAL = timedelta(days=182)   # the next service is estimated six months after the last one


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


def _customer(c: Any | None, language: str) -> dict[str, Any] | None:
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
