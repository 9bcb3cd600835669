"""The records the demo-data generator makes, before they are written anywhere (plain data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


@dataclass(slots=True)
class DealerSpec:
    """A dealer to fill: its database id (None for CSV-only runs), code, name and city."""

    id: int | None
    code: str
    name: str
    city: str
    weight: float = 1.0


@dataclass(slots=True)
class GenRepair:
    """One workshop visit of a generated vehicle."""

    external_id: str
    date: date
    type: str
    amount: Decimal
    mileage: int
    advisor: str


@dataclass(slots=True)
class GenVehicle:
    """A generated vehicle with its service history."""

    vin: str | None
    plate: str | None
    brand: str
    model: str
    model_year: int
    purchase_date: date
    mileage: int | None
    mileage_date: date | None
    last_service_date: date | None
    last_service_mileage: int | None
    insurance_expiry: date
    warranty_expiry: date
    repairs: list[GenRepair] = field(default_factory=list)


@dataclass(slots=True)
class GenFollower:
    """The WeChat follower a generated customer is bound to, with their messages."""

    openid: str
    subscribed: bool
    subscribed_at: datetime
    unsubscribed_at: datetime | None
    method: str
    bound_at: datetime
    messages: list[tuple[datetime, str, str]] = field(default_factory=list)  # (at, direction, text)


@dataclass(slots=True)
class GenCustomer:
    """A generated customer; `duplicate` names the planted-duplicate kind ("" for an original)."""

    dealer: DealerSpec
    number: int
    external_id: str
    name: str
    mobile: str | None
    landline: str | None
    gender: str
    birthday: date
    city: str
    source: str
    stage: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    vehicles: list[GenVehicle] = field(default_factory=list)
    follower: GenFollower | None = None
    note: str = ""
    duplicate: str = ""
