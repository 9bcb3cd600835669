"""The dealer-system API's customer work: batch upserts through the import rules, and reading one customer.

Each item is validated by the same rules as a file row (`parse_row`) and written by the same idempotent
upsert (`apply_batch`), one row per vehicle. An item is all or nothing: it runs in a savepoint that is
rolled back when any of its rows is refused, so a half-written customer never remains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Customer, Vehicle
from scrm.services import audit
from scrm.services.api_keys import ApiCaller
from scrm.services.errors import NotFound
from scrm.services.imports.customers import ParsedRow, Problem, parse_row
from scrm.services.imports.readers import Cell
from scrm.services.imports.upsert import CREATED, REJECTED, UNCHANGED, UPDATED, Batch, apply_batch

MAX_ITEMS = 1000
MAX_VEHICLES = 20
_MAX_ID = 2**31 - 1  # ids are 32-bit integers; a larger one cannot exist
CUSTOMER_INPUT = ("external_id", "name", "mobile", "gender", "birthday", "city", "source", "stage")
VEHICLE_INPUT = ("vin", "plate", "brand", "model", "model_year", "purchase_date", "mileage", "mileage_date",
                 "last_service_date", "last_service_mileage", "insurance_expiry", "warranty_expiry")


@dataclass
class ItemResult:
    """What happened to one item of a batch."""

    index: int
    status: str
    id: int | None = None
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The item's entry in the response."""
        out: dict[str, Any] = {"index": self.index, "status": self.status, "errors": self.errors}
        if self.id is not None:
            out["id"] = self.id
        return out


def _text(p: Problem) -> str:
    """A problem in English (the API speaks to programs and their developers)."""
    return p.message % p.params if p.params else p.message


def _error(fld: str, message: str) -> dict[str, str]:
    return {"field": fld, "message": message}


def _cells(obj: dict[str, Any], allowed: tuple[str, ...], where: str,
           errors: list[dict[str, str]]) -> dict[str, Cell]:
    cells: dict[str, Cell] = {}
    for key, value in obj.items():
        name = f"{where}{key}"
        if key not in allowed:
            errors.append(_error(name, "Unknown field."))
        elif value is not None and (isinstance(value, bool) or not isinstance(value, str | int | float)):
            errors.append(_error(name, "Must be a string or a number."))
        elif isinstance(value, str) and not _is_text(value):
            errors.append(_error(name, "Contains characters that are not valid text (NUL or a lone surrogate)."))
        else:
            cells[name] = value
    return cells


def _is_text(value: str) -> bool:
    """False for strings the database cannot store: NUL, or JSON escapes of half a UTF-16 pair."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_item(item: object) -> tuple[list[ParsedRow], list[dict[str, str]]]:
    """The rows of one item (one per vehicle, or one without), or the reasons it is refused."""
    if not isinstance(item, dict):
        return [], [_error("", "Each item must be a JSON object.")]
    errors: list[dict[str, str]] = []
    customer = _cells({k: v for k, v in item.items() if k != "vehicles"}, CUSTOMER_INPUT, "", errors)
    vehicles = item.get("vehicles") or []
    if not isinstance(vehicles, list):
        return [], [*errors, _error("vehicles", "Must be a list of vehicles.")]
    if len(vehicles) > MAX_VEHICLES:
        return [], [*errors, _error("vehicles", f"At most {MAX_VEHICLES} vehicles per customer.")]
    parts: list[dict[str, Cell]] = []
    for j, vehicle in enumerate(vehicles):
        if not isinstance(vehicle, dict):
            errors.append(_error(f"vehicles[{j}]", "Each vehicle must be a JSON object."))
            continue
        parts.append(_cells(vehicle, VEHICLE_INPUT, f"vehicles[{j}].", errors))
    if errors:
        return [], errors
    rows = []
    for cells in parts or [{}]:
        merged = {**customer, **cells}
        rows.append(parse_row(0, merged, {name: name.rsplit(".", 1)[-1] for name in merged}))
    seen: set[tuple[str, str]] = set()
    for row in rows:
        for p in row.problems:
            key = (p.column, _text(p))
            if key not in seen:
                seen.add(key)
                errors.append(_error(*key))
    return ([] if errors else rows), errors


def upsert_batch(caller: ApiCaller, items: list[object]) -> list[ItemResult]:
    """Create or update the caller's dealer's customers, one result per item, in order (audited)."""
    now = db.utcnow()
    batch = Batch(caller.account_id, caller.dealer_id, 0, f"API key {caller.prefix}", now, via_api=True)
    results: list[ItemResult] = []
    with db.transaction() as s:
        for index, item in enumerate(items):
            rows, errors = parse_item(item)
            results.append(ItemResult(index, REJECTED, errors=errors) if errors else _write(s, batch, index, rows))
        counts = {status: sum(r.status == status for r in results)
                  for status in (CREATED, UPDATED, UNCHANGED, REJECTED)}
        audit.record(s, staff=None, action="api.customers_batch", target_type="api_key", target_id=caller.key_id,
                     detail={"api_key_id": caller.key_id, "prefix": caller.prefix, "items": len(items), **counts,
                             "changed_ids": [r.id for r in results if r.status in (CREATED, UPDATED)][:200]},
                     account_id=caller.account_id, dealer_id=caller.dealer_id)
    return results


def _write(s: Session, batch: Batch, index: int, rows: list[ParsedRow]) -> ItemResult:
    """Write one item's rows in a savepoint; any refusal rolls the whole item back."""
    savepoint = s.begin_nested()
    try:
        outcomes = apply_batch(s, batch, rows)
        s.flush()
    except IntegrityError:
        savepoint.rollback()
        return ItemResult(index, REJECTED, errors=[_error("", "This item clashed with a record written at the "
                                                              "same time; send it again.")])
    refused = [(_field(j, rows[j], p.column), _text(p)) for j, o in enumerate(outcomes) if o.status == REJECTED
               for p in o.problems]
    if refused:
        savepoint.rollback()
        return ItemResult(index, REJECTED, errors=[_error(f, m) for f, m in dict.fromkeys(refused)])
    savepoint.commit()
    statuses = {o.status for o in outcomes}
    status = CREATED if CREATED in statuses else UPDATED if UPDATED in statuses else UNCHANGED
    return ItemResult(index, status, id=outcomes[0].customer_id)


def _field(j: int, row: ParsedRow, column: str) -> str:
    """The upsert names fields canonically; a vehicle's field is named by its place in the item."""
    return f"vehicles[{j}].{column}" if row.vehicle is not None and column in VEHICLE_INPUT else column


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def get_customer(caller: ApiCaller, customer_id: int) -> dict[str, Any]:
    """One customer of the caller's dealer with its vehicles; NotFound for any other (or erased) one."""
    if not 0 < customer_id <= _MAX_ID:
        raise NotFound()
    s = db.session()
    customer = s.scalar(sa.select(Customer).where(
        Customer.id == customer_id, Customer.account_id == caller.account_id,
        Customer.dealer_id == caller.dealer_id, Customer.erased_at.is_(None)))
    if customer is None:
        raise NotFound()
    vehicles = s.scalars(sa.select(Vehicle).where(Vehicle.customer_id == customer.id,
                                                  Vehicle.dealer_id == caller.dealer_id).order_by(Vehicle.id))
    return {
        "id": customer.id, "external_id": customer.external_id, "name": customer.name, "mobile": customer.mobile,
        "landline": customer.landline, "gender": customer.gender.value if customer.gender else None,
        "birthday": _iso(customer.birthday), "city": customer.city, "source": customer.source,
        "stage": customer.stage.value, "tags": list(customer.tags or []), "merged_into_id": customer.merged_into_id,
        "created_at": _iso(customer.created_at), "updated_at": _iso(customer.updated_at),
        "vehicles": [{
            "id": v.id, "vin": v.vin, "plate": v.plate, "brand": v.brand, "model": v.model,
            "model_year": v.model_year, "purchase_date": _iso(v.purchase_date), "mileage": v.mileage,
            "mileage_date": _iso(v.mileage_date), "last_service_date": _iso(v.last_service_date),
            "last_service_mileage": v.last_service_mileage, "insurance_expiry": _iso(v.insurance_expiry),
            "warranty_expiry": _iso(v.warranty_expiry)} for v in vehicles],
    }
