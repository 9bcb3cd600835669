"""One car on both records (the same plate, typed in twice): a merge keeps ONE vehicle row.

Runs as a mover before the plain `vehicles` mover. For each of the merged customer's vehicles whose plate
the survivor already has, the survivor's vehicle (the keeper) takes the twin's values where its own are
empty, the twin's repair orders point at the keeper, and the twin row is removed. The mover returns, per
twin, its whole row and the keeper's values before, so the undo puts both back exactly (same ids).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.models import RepairOrder, Vehicle
from scrm.services.merge_movers import Mover, register
from scrm.services.normalize_base import N_

FILLED = ("vin", "brand", "model", "model_year", "purchase_date", "mileage", "mileage_date", "last_service_date",
          "last_service_mileage", "insurance_expiry", "warranty_expiry")
_COLUMNS = [c.key for c in Vehicle.__table__.columns]


def _dump(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


def _load(name: str, value: Any) -> Any:
    if value is None:
        return None
    column_type = Vehicle.__table__.columns[name].type
    if isinstance(column_type, sa.Date):
        return date.fromisoformat(value)
    if isinstance(column_type, sa.DateTime) or name in ("created_at", "updated_at"):
        return datetime.fromisoformat(value)
    return value


def move(s: Session, source: int, target: int) -> list[Any]:
    """Fold the merged customer's vehicles whose plate the survivor has into the survivor's."""
    keepers: dict[str, Vehicle] = {}
    for v in s.scalars(sa.select(Vehicle).where(Vehicle.customer_id == target).order_by(Vehicle.id)):
        if v.plate:
            keepers.setdefault(v.plate, v)
    folded: list[Any] = []
    for twin in list(s.scalars(sa.select(Vehicle).where(Vehicle.customer_id == source).order_by(Vehicle.id))):
        keeper = keepers.get(twin.plate or "")
        if keeper is None:
            continue
        fill = {name: getattr(twin, name) for name in FILLED
                if getattr(keeper, name) is None and getattr(twin, name) is not None}
        orders = sorted(s.scalars(sa.select(RepairOrder.id).where(RepairOrder.vehicle_id == twin.id)))
        folded.append({"twin": {name: _dump(getattr(twin, name)) for name in _COLUMNS}, "keeper_id": keeper.id,
                       "keeper_before": {name: None for name in fill}, "orders": orders})
        if orders:
            s.execute(sa.update(RepairOrder).where(RepairOrder.id.in_(orders)).values(vehicle_id=keeper.id)
                      .execution_options(synchronize_session=False))
        s.delete(twin)
        s.flush()  # the twin's VIN is free before the keeper takes it
        for name, value in fill.items():
            setattr(keeper, name, value)
        s.flush()
    return folded


def undo(s: Session, source: int, target: int, folded: list[Any]) -> int:
    """Put each folded twin back (same id) and give the keeper its own values again."""
    for item in reversed(folded):
        keeper = s.get(Vehicle, item["keeper_id"])
        if keeper is not None:
            for name in item["keeper_before"]:
                setattr(keeper, name, None)
            s.flush()
        twin = Vehicle(**{name: _load(name, value) for name, value in item["twin"].items()})
        s.add(twin)
        s.flush()
        if item["orders"]:
            s.execute(sa.update(RepairOrder).where(RepairOrder.id.in_(item["orders"])).values(vehicle_id=twin.id)
                      .execution_options(synchronize_session=False))
    return len(folded)


def install() -> None:
    """Register the vehicle folding ahead of the plain vehicle move."""
    from scrm.services.merge_movers import MOVERS

    mover = Mover("vehicle_twins", N_("vehicles combined (same plate)"), move, undo)
    register(mover)
    MOVERS.remove(mover)
    MOVERS.insert(0, mover)


install()
