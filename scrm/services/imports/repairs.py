"""Write a batch of validated repair orders idempotently, each linked to an existing customer of the dealer.

Linking, in this order: the vehicle with the order's VIN, else the one vehicle with its plate, else the
customer with its customer number, else the customer with its mobile. No match rejects the order: a
repair order never creates a customer. A customer found by number or mobile gets the order's car as a
new vehicle when the VIN or plate is not on record. Orders match by (dealer, order number); an empty
value never erases a stored one. Each touched vehicle's last service and mileage are raised to its
latest order, never lowered by an older one, and each new order adds one "service" timeline entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.models import Customer, RepairOrder, TimelineEntry, Vehicle
from scrm.services.imports.customers import ParsedRow, Problem
from scrm.services.imports.upsert import CREATED, REJECTED, UNCHANGED, UPDATED, Batch, Outcome
from scrm.services.normalize_base import N_

ORDER_FIELDS = ("date", "type", "amount", "mileage", "advisor")
SERVICE_TITLE = N_("Workshop visit")
NO_CUSTOMER = N_("No customer of this dealer has this VIN, plate, customer number or mobile number; import the "
                 "customer first (a repair order never creates a customer).")
VIN_OTHER_CUSTOMER = N_("The VIN %(vin)s belongs to customer number %(other)s in our records, not %(number)s.")
PLATE_AMBIGUOUS = N_("The plate %(plate)s is on vehicles of several customers; give the VIN or the customer "
                     "number.")


@dataclass
class _Index:
    """The dealer's orders, vehicles and customers this batch can touch, kept current while writing."""

    orders: dict[str, RepairOrder] = field(default_factory=dict)
    customers: dict[int, Customer] = field(default_factory=dict)
    by_ext: dict[str, Customer] = field(default_factory=dict)
    by_mobile: dict[str, Customer] = field(default_factory=dict)
    by_vin: dict[str, Vehicle] = field(default_factory=dict)
    by_plate: dict[str, list[Vehicle]] = field(default_factory=dict)

    def add_vehicle(self, v: Vehicle) -> None:
        """Make a vehicle findable by VIN and plate."""
        if v.vin:
            self.by_vin[v.vin] = v
        if v.plate and v not in self.by_plate.setdefault(v.plate, []):
            self.by_plate[v.plate].append(v)


def _load(s: Session, b: Batch, values: list[dict[str, Any]]) -> _Index:
    index = _Index()

    def wanted(name: str) -> set[str]:
        return {v[name] for v in values if v.get(name)}

    exts, vins, plates = wanted("external_id"), wanted("vin"), wanted("plate")
    numbers, mobiles = wanted("customer_external_id"), wanted("mobile")
    if exts:
        index.orders = {o.external_id: o for o in s.scalars(sa.select(RepairOrder).where(
            RepairOrder.dealer_id == b.dealer_id, RepairOrder.external_id.in_(exts)))}
    held = s.scalars(sa.select(Vehicle).where(Vehicle.dealer_id == b.dealer_id, sa.or_(
        Vehicle.vin.in_(vins), Vehicle.plate.in_(plates)))).all() if vins or plates else []
    found = s.scalars(sa.select(Customer).where(Customer.dealer_id == b.dealer_id, sa.or_(
        Customer.external_id.in_(numbers), Customer.mobile.in_(mobiles),
        Customer.id.in_({v.customer_id for v in held})))).all()
    for c in found:
        index.customers[c.id] = c
        if c.erased_at is None and c.merged_into_id is None:
            if c.external_id:
                index.by_ext[c.external_id] = c
            if c.mobile:
                index.by_mobile[c.mobile] = c
    own = s.scalars(sa.select(Vehicle).where(Vehicle.customer_id.in_(
        [c.id for c in found if c.id not in {v.customer_id for v in held}]))).all() if found else []
    for v in [*held, *own]:
        index.add_vehicle(v)
    return index


def apply_repairs(s: Session, b: Batch, rows: list[ParsedRow]) -> list[Outcome]:
    """Write the valid repair orders of one batch (in the caller's transaction); one outcome per row."""
    index = _load(s, b, [r.customer for r in rows if r.ok])
    outcomes: list[Outcome] = []
    latest: dict[int, tuple[Vehicle, date, int | None]] = {}
    for row in rows:
        if not row.ok:
            outcomes.append(Outcome(REJECTED, row.problems))
            continue
        values = row.customer
        linked = _link(s, b, index, values)
        if isinstance(linked, Outcome):
            outcomes.append(linked)
            continue
        customer, vehicle = linked
        status, order = _write_order(s, b, index, values, customer, vehicle)
        if status == CREATED:
            _timeline(s, b, row, customer, order, vehicle)
        if vehicle is not None:
            _note_latest(latest, vehicle, values["date"], values.get("mileage"))
        outcomes.append(Outcome(status, customer_id=customer.id, record_id=order.id))
    for vehicle, day, km in latest.values():
        _raise_service(b, vehicle, day, km)
    s.flush()
    for outcome, row in zip(outcomes, rows, strict=True):
        if outcome.status != REJECTED and outcome.record_id is None:
            outcome.record_id = index.orders[row.customer["external_id"]].id
    return outcomes


def _survivor(s: Session, customer: Customer | None) -> Customer | None:
    """Follow merges to the customer that absorbed this one; None for an erased record."""
    for _ in range(20):
        if customer is None or customer.merged_into_id is None:
            break
        customer = s.get(Customer, customer.merged_into_id)
    return customer if customer is not None and customer.erased_at is None else None


def _link(s: Session, b: Batch, index: _Index,
          values: dict[str, Any]) -> tuple[Customer, Vehicle | None] | Outcome:
    """The customer (and vehicle) the order belongs to, or the reason it has none."""
    vin, plate, number = values.get("vin"), values.get("plate"), values.get("customer_external_id")
    vehicle = index.by_vin.get(vin) if vin else None
    ambiguous = False
    if vehicle is None and plate:
        # The same plate with another VIN is another car (plates move to the owner's next car).
        cars = [v for v in index.by_plate.get(plate, []) if not (vin and v.vin and v.vin != vin)]
        owners = {v.customer_id for v in cars}
        if len(owners) == 1:
            vehicle = cars[0]
        ambiguous = len(owners) > 1
    if vehicle is not None:
        customer = _survivor(s, index.customers.get(vehicle.customer_id) or s.get(Customer, vehicle.customer_id))
        if customer is not None and number and customer.external_id and customer.external_id != number:
            return _reject("vin" if vin else "plate", VIN_OTHER_CUSTOMER, vin=vin or plate, other=customer.external_id,
                           number=number)
        if customer is not None:
            return customer, vehicle
    customer = index.by_ext.get(number) if number else None
    if customer is None and values.get("mobile"):
        customer = index.by_mobile.get(values["mobile"])
    customer = _survivor(s, customer)
    if customer is None:
        if ambiguous:
            return _reject("plate", PLATE_AMBIGUOUS, plate=plate)
        return _reject("", NO_CUSTOMER)
    own = [v for v in index.by_plate.get(plate or "", []) if v.customer_id == customer.id and
           not (vin and v.vin and v.vin != vin)]
    if own:
        return customer, own[0]
    if (not vin and not plate) or (vin and vin in index.by_vin):
        return customer, None
    vehicle = Vehicle(account_id=b.account_id, dealer_id=b.dealer_id, customer_id=customer.id, vin=vin,
                      plate=plate, created_at=b.now, updated_at=b.now)
    s.add(vehicle)
    index.add_vehicle(vehicle)
    return customer, vehicle


def _write_order(s: Session, b: Batch, index: _Index, values: dict[str, Any], customer: Customer,
                 vehicle: Vehicle | None) -> tuple[str, RepairOrder]:
    if vehicle is not None and vehicle.id is None:
        s.flush()  # the new vehicle's id, for the order
    wanted = {k: values[k] for k in ORDER_FIELDS if values.get(k) is not None}
    wanted["customer_id"] = customer.id
    if vehicle is not None:
        wanted["vehicle_id"] = vehicle.id
    order = index.orders.get(values["external_id"])
    if order is None:
        order = RepairOrder(account_id=b.account_id, dealer_id=b.dealer_id, external_id=values["external_id"],
                            created_at=b.now, **{"type": "", "advisor": "", **wanted})
        s.add(order)
        index.orders[order.external_id] = order
        return CREATED, order
    changed = False
    for name, value in wanted.items():
        if getattr(order, name) != value:
            setattr(order, name, value)
            changed = True
    return (UPDATED if changed else UNCHANGED), order


def _note_latest(latest: dict[int, tuple[Vehicle, date, int | None]], vehicle: Vehicle, day: date,
                 km: int | None) -> None:
    """Keep the newest visit per vehicle (the higher mileage on the same day)."""
    key = id(vehicle)
    seen = latest.get(key)
    if seen is None or (day, km or -1) > (seen[1], seen[2] or -1):
        latest[key] = (vehicle, day, km)


def _raise_service(b: Batch, v: Vehicle, day: date, km: int | None) -> None:
    """Raise the vehicle's last service and mileage to this visit; an older visit lowers nothing."""
    changed = False
    if v.last_service_date is None or day > v.last_service_date:
        v.last_service_date = day
        if km is not None:
            v.last_service_mileage = km
        changed = True
    elif day == v.last_service_date and km is not None and (v.last_service_mileage or -1) < km:
        v.last_service_mileage = km
        changed = True
    if km is not None:
        newer = day > v.mileage_date if v.mileage_date else km >= (v.mileage or 0)
        if (newer or (day == v.mileage_date and km > (v.mileage or 0))) and (v.mileage, v.mileage_date) != (km, day):
            v.mileage, v.mileage_date = km, day
            changed = True
    if changed and v.id is not None:
        v.updated_at = b.now


def _timeline(s: Session, b: Batch, row: ParsedRow, customer: Customer, order: RepairOrder,
              vehicle: Vehicle | None) -> None:
    values = row.customer
    day: date = values["date"]
    amount = values.get("amount")
    s.add(TimelineEntry(
        account_id=b.account_id, dealer_id=b.dealer_id, customer_id=customer.id, kind="service",
        title=SERVICE_TITLE,
        detail={"order": order.external_id, "type": values.get("type") or "",
                "amount": str(amount) if amount is not None else None, "mileage": values.get("mileage"),
                "advisor": values.get("advisor") or "", "vin": vehicle.vin if vehicle else None,
                "plate": vehicle.plate if vehicle else None, "via": "api" if b.via_api else "import",
                "job_id": b.job_id, "file": b.filename, "line": row.line},
        occurred_at=datetime(day.year, day.month, day.day, tzinfo=UTC), created_at=b.now))


def _reject(field_name: str, message: str, **params: object) -> Outcome:
    return Outcome(REJECTED, [Problem(field_name, message, dict(params))])
