"""Write a batch of validated rows idempotently into one dealer's customers and vehicles.

Matching: a customer by the dealer system's id, else by mobile; a vehicle by VIN, else by plate within
its customer. Updating: a non-empty value from the file replaces the stored one, an empty cell never
erases anything, and a dated reading (mileage, last service) only replaces an older one. A row whose
values all equal the stored ones changes nothing, not even `updated_at`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Customer, Gender, Stage, TimelineEntry, Vehicle
from scrm.services.imports import bulk
from scrm.services.imports.customers import ParsedRow, Problem
from scrm.services.normalize_base import N_
from scrm.services.privacy import erased_identities

CREATED, UPDATED, UNCHANGED, REJECTED = "created", "updated", "unchanged", "rejected"
# (reading, its date): the file's reading wins only when it is not older than the stored one.
DATED = (("mileage", "mileage_date"), ("last_service_mileage", "last_service_date"))


@dataclass
class Outcome:
    """What happened to one row."""

    status: str
    problems: list[Problem] = field(default_factory=list)
    customer_id: int | None = None  # the customer written or matched (None when rejected)
    record_id: int | None = None  # the repair order written or matched (repair-order imports only)


@dataclass
class Batch:
    """Where one batch is written."""

    account_id: int
    dealer_id: int
    job_id: int
    filename: str
    now: datetime
    via_api: bool = False  # written by a dealer system through the API, not from a file


class _Index:
    """The dealer's rows the batch can touch, loaded in two queries and kept current while writing."""

    def __init__(self, s: Session, b: Batch, rows: list[ParsedRow]) -> None:
        keyed = [r.customer for r in rows if "external_id" in r.customer or "mobile" in r.customer]
        ext = {c["external_id"] for c in keyed if "external_id" in c}
        mobiles = {c["mobile"] for c in keyed if "mobile" in c}
        names = {r.customer["name"] for r in rows
                 if "external_id" not in r.customer and "mobile" not in r.customer and "name" in r.customer}
        vins = {r.vehicle["vin"] for r in rows if r.vehicle and "vin" in r.vehicle}
        pg = bulk.is_postgres(s)
        held = s.scalars(sa.select(Vehicle).where(Vehicle.dealer_id == b.dealer_id,
                                                  db.among(Vehicle.vin, vins, postgres=pg))).all() if vins else []
        holders = {v.customer_id for v in held}
        # Only the conditions that name something: an empty one could still make the planner scan the table.
        cond = [db.among(column, values, postgres=pg) for column, values in (
            (Customer.external_id, ext), (Customer.mobile, mobiles), (Customer.id, holders)) if values]
        if names:
            cond.append(sa.and_(db.among(Customer.name, names, postgres=pg), Customer.mobile.is_(None),
                                Customer.external_id.is_(None)))
        found = s.scalars(sa.select(Customer).where(Customer.dealer_id == b.dealer_id, sa.or_(*cond))).all() \
            if cond else []
        self.by_id = {c.id: c for c in found}
        self.by_ext = {c.external_id: c for c in found if c.external_id}
        self.by_mobile = {c.mobile: c for c in found if c.mobile}
        # Rows without a customer number or mobile: the same name (and landline) of a record that has neither.
        self.by_name: dict[tuple[str, str | None], Customer] = {
            (c.name, c.landline): c for c in found if c.name and not c.mobile and not c.external_id}
        vehicles = s.scalars(sa.select(Vehicle).where(
            db.among(Vehicle.customer_id, set(self.by_id), postgres=pg))).all() if found else []
        self.by_vin = {v.vin: v for v in [*held, *vehicles] if v.vin}
        self.by_plate: dict[tuple[int, str], Vehicle] = {}
        for v in vehicles:
            if v.plate:
                self.by_plate.setdefault((v.customer_id, v.plate), v)
        # A VIN claimed earlier in this batch by a customer that has no id yet.
        self.vin_claims: dict[str, Customer] = {}
        # New records of this batch, written in bulk at its end (see `bulk`).
        self.new_customers: list[bulk.Record] = []
        self.new_vehicles: list[bulk.Record] = []
        self.timeline: list[dict[str, Any]] = []
        # People whose data the dealer erased on request: a file must not bring them back silently.
        self.erased = erased_identities(b.dealer_id)


def apply_batch(s: Session, b: Batch, rows: list[ParsedRow]) -> list[Outcome]:
    """Write the valid rows of one batch (in the caller's transaction); one outcome per row, in order."""
    index = _Index(s, b, [r for r in rows if r.ok])
    plans: list[tuple[ParsedRow, Customer, bool, list[str]] | Outcome] = []
    for row in rows:
        if not row.ok:
            plans.append(Outcome(REJECTED, row.problems))
            continue
        plan = _plan_customer(s, b, index, row)
        plans.append(plan)
    # New customers get their ids before their vehicles and timeline entries are planned.
    bulk.assign_ids(s, index.new_customers)
    detail = _detail_prefix(b) if bulk.is_postgres(s) else None
    outcomes = []
    for plan in plans:
        if isinstance(plan, Outcome):
            outcomes.append(plan)
            continue
        row, customer, created, changed = plan
        if row.vehicle is not None:
            changed += _write_vehicle(s, b, index, customer, row.vehicle)
        if created or changed:
            index.timeline.append(_timeline(b, customer, row, created, changed, detail))
            if not created:
                customer.updated_at = b.now
        outcomes.append(Outcome(CREATED if created else UPDATED if changed else UNCHANGED, customer_id=customer.id))
    s.flush()  # changes to records that existed before this batch
    bulk.insert(s, index.new_customers)
    bulk.insert(s, index.new_vehicles)
    bulk.insert_rows(s, cast(sa.Table, TimelineEntry.__table__), index.timeline)
    return outcomes


def _plan_customer(s: Session, b: Batch, index: _Index,
                   row: ParsedRow) -> tuple[ParsedRow, Customer, bool, list[str]] | Outcome:
    values = dict(row.customer)
    ext, mobile = values.get("external_id"), values.get("mobile")
    customer = index.by_ext.get(ext) if ext else None
    owner = index.by_mobile.get(mobile) if mobile else None
    vin = (row.vehicle or {}).get("vin")
    if customer is None and not ext and not mobile:
        holder = index.by_vin.get(vin) if vin else None
        customer = index.by_id.get(holder.customer_id) if holder else index.by_name.get(
            (str(values.get("name")), values.get("landline")))
    elif customer is None:
        customer = owner
        if customer is not None and ext and customer.external_id and customer.external_id != ext:
            return _reject("mobile", "The mobile number %(mobile)s belongs to customer number %(other)s "
                           "in our records, not %(number)s.", mobile=mobile, other=customer.external_id, number=ext)
    elif owner is not None and owner is not customer:
        return _reject("mobile", "The mobile number %(mobile)s already belongs to another customer of this "
                       "dealer.", mobile=mobile)
    customer = _survivor(s, customer)
    if vin:
        holder = index.by_vin.get(vin)
        claimed = index.vin_claims.get(vin)
        if (holder is not None and (customer is None or holder.customer_id != customer.id)) or \
                (claimed is not None and claimed is not customer):
            return _reject("vin", "The VIN %(vin)s is already registered to another customer of this dealer.",
                           vin=vin)
    created = customer is None
    if created and (index.erased.matches(mobile, ext) or index.erased.matches(values.get("landline"), None)):
        return _reject("mobile" if mobile else "external_id", N_(
            "This person's data was erased at their request (PIPL); the row is not imported. "
            "Add them by hand if they have come back."))
    if created and not values.get("name") and not values.get("mobile"):
        return _reject("", "A row needs a customer name or a mobile number.")
    old_mobile = customer.mobile if customer is not None else None
    if customer is None:
        customer = bulk.new(Customer, **{"account_id": b.account_id, "dealer_id": b.dealer_id, "stage": Stage.LEAD,
                                         "tags": [], "created_at": b.now, "updated_at": b.now,
                                         **_given(_typed(values))})
        index.new_customers.append(customer)
        changed = []
    else:
        changed = _assign(customer, _typed(values))
    if mobile and old_mobile != mobile:
        index.by_mobile.pop(old_mobile or "", None)
        index.by_mobile[mobile] = customer
    if customer.external_id:
        index.by_ext.setdefault(customer.external_id, customer)
    elif customer.name and not customer.mobile:
        index.by_name.setdefault((customer.name, customer.landline), customer)
    if vin:
        index.vin_claims[vin] = customer
    return row, customer, created, [] if created else changed


def _survivor(s: Session, customer: Customer | None) -> Customer | None:
    """Follow merges to the customer that absorbed this one (a merged record is never written again)."""
    for _ in range(20):
        if customer is None or customer.merged_into_id is None:
            return customer
        customer = s.get(Customer, customer.merged_into_id)
    return customer


def _write_vehicle(s: Session, b: Batch, index: _Index, customer: Customer, values: dict[str, Any]) -> list[str]:
    vin, plate = values.get("vin"), values.get("plate")
    vehicle = index.by_vin.get(vin) if vin else None
    if vehicle is None and plate:
        candidate = index.by_plate.get((customer.id, plate))
        # The same plate with another VIN is another car (plates move to the owner's next car).
        if candidate is not None and not (vin and candidate.vin and candidate.vin != vin):
            vehicle = candidate
    if vehicle is None:
        vehicle = bulk.new(Vehicle, **{"account_id": b.account_id, "dealer_id": b.dealer_id,
                                       "customer_id": customer.id, "created_at": b.now, "updated_at": b.now,
                                       **_given(values)})
        index.new_vehicles.append(vehicle)
        changed = ["vehicle"]
    else:
        for reading, when in DATED:
            new_date, old_date = values.get(when), getattr(vehicle, when)
            if reading in values and new_date and old_date and new_date < old_date:
                values = {k: v for k, v in values.items() if k not in (reading, when)}
        changed = [f"vehicle.{name}" for name in _assign(vehicle, values)]
        if changed:
            vehicle.updated_at = b.now
    if vehicle.vin:
        index.by_vin[vehicle.vin] = vehicle
    if vehicle.plate:
        index.by_plate.setdefault((customer.id, vehicle.plate), vehicle)
    return changed


def _assign(row: Any, values: dict[str, Any]) -> list[str]:
    """Set each non-empty value that differs; return the names that changed."""
    changed = []
    for name, value in values.items():
        if value is not None and getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    return changed


def _given(values: dict[str, Any]) -> dict[str, Any]:
    """The non-empty values (what `_assign` would set on a new record)."""
    return {k: v for k, v in values.items() if v is not None}


def _typed(values: dict[str, Any]) -> dict[str, Any]:
    if "gender" in values:
        values["gender"] = Gender(values["gender"])
    return values


def _detail_prefix(b: Batch) -> str:
    """The JSON text every timeline detail of the batch starts with (its job and file), up to the line."""
    return json.dumps({"job_id": b.job_id, "file": b.filename}, ensure_ascii=False)[:-1] + ', "line": '


def _timeline(b: Batch, customer: Customer, row: ParsedRow, created: bool, changed: list[str],
              prefix: str | None) -> dict[str, Any]:
    """A timeline row; with `prefix` (PostgreSQL: COPY takes the text as it is) its detail is JSON text."""
    detail: Any = {"job_id": b.job_id, "file": b.filename, "line": row.line, "fields": changed} if prefix is None \
        else f'{prefix}{row.line}, "fields": {json.dumps(changed) if changed else "[]"}}}'
    return {"account_id": b.account_id, "dealer_id": b.dealer_id, "customer_id": customer.id,
            "kind": ("api." if b.via_api else "import.") + ("created" if created else "updated"),
            "title": _TITLES[b.via_api, created], "detail": detail, "occurred_at": b.now, "created_at": b.now}


_TITLES = {(False, True): N_("Imported from a file"), (False, False): N_("Updated by an import"),
           (True, True): N_("Created by the dealer system"), (True, False): N_("Updated by the dealer system")}


def _reject(field_name: str, message: str, **params: object) -> Outcome:
    return Outcome(REJECTED, [Problem(field_name, message, dict(params))])
