"""Bookings: what a dealer offers (service types, demo cars, hours, closures), the bookings themselves, and
the per-slot use counters that keep a slot from ever being overbooked.

Local times (opening hours, closures) are in the dealer's booking time zone; instants are stored in UTC.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from scrm.db import Base, utcnow


def _enum(e: type[enum.Enum], length: int = 16) -> sa.Enum:
    return sa.Enum(e, native_enum=False, length=length, values_callable=lambda x: [m.value for m in x])


class ServiceKind(enum.StrEnum):
    MAINTENANCE = "maintenance"
    REPAIR = "repair"
    BODYWORK = "bodywork"
    TEST_DRIVE = "test_drive"
    OTHER = "other"


class BookingStatus(enum.StrEnum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    NO_SHOW = "no_show"


class BookingSource(enum.StrEnum):
    CHAT = "chat"
    H5 = "h5"
    STAFF = "staff"
    API = "api"


class BookingSettings(Base):
    """One dealer's booking rules; a dealer without a row uses the defaults below."""

    __tablename__ = "booking_settings"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"), unique=True)
    slot_minutes: Mapped[int] = mapped_column(default=30)
    min_notice_minutes: Mapped[int] = mapped_column(default=120)
    horizon_days: Mapped[int] = mapped_column(default=30)
    cancel_cutoff_minutes: Mapped[int] = mapped_column(default=120)
    timezone: Mapped[str] = mapped_column(sa.String(40), default="")  # "" = the app's time zone
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OpeningHours(Base):
    """One opening interval of a weekday (0 = Monday); a lunch break is two rows for the day."""

    __tablename__ = "opening_hours"
    __table_args__ = (sa.CheckConstraint("weekday >= 0 AND weekday <= 6", name="weekday"),
                      sa.CheckConstraint("opens < closes", name="order"),
                      sa.Index("ix_opening_hours_dealer_weekday", "dealer_id", "weekday"))
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"))
    weekday: Mapped[int]
    opens: Mapped[time]
    closes: Mapped[time]


class Closure(Base):
    """A day (or part of one, from/to local times) the dealer takes no bookings."""

    __tablename__ = "closures"
    __table_args__ = (sa.Index("ix_closures_dealer_day", "dealer_id", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"))
    day: Mapped[date]
    from_time: Mapped[time | None]
    to_time: Mapped[time | None]
    reason: Mapped[str] = mapped_column(sa.String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServiceType(Base):
    """Something a customer can book; `name` is staff-entered and shown as is."""

    __tablename__ = "service_types"
    __table_args__ = (sa.UniqueConstraint("dealer_id", "code"),
                      sa.CheckConstraint("duration_minutes > 0", name="duration"),
                      sa.CheckConstraint("capacity >= 0", name="capacity"))
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"))
    code: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str] = mapped_column(sa.String(50))
    kind: Mapped[ServiceKind] = mapped_column(_enum(ServiceKind))
    duration_minutes: Mapped[int] = mapped_column(default=60)
    capacity: Mapped[int] = mapped_column(default=1)  # bookings that may start in (or cover) one slot
    active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DemoCar(Base):
    """A car of the dealer's demo fleet, booked for test drives (capacity one per slot)."""

    __tablename__ = "demo_cars"
    __table_args__ = (sa.Index("ix_demo_cars_dealer_model", "dealer_id", "model"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"))
    model: Mapped[str] = mapped_column(sa.String(100))
    plate: Mapped[str] = mapped_column(sa.String(10), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlotUse(Base):
    """How much of one resource's slot is taken: the database gate against overbooking.

    `resource` is "type:<service type id>" or "car:<demo car id>"; booking raises `used` with a conditional
    upsert, cancelling lowers it, and the CHECK is the final word.
    """

    __tablename__ = "slot_uses"
    __table_args__ = (sa.UniqueConstraint("dealer_id", "resource", "slot_start"),
                      sa.CheckConstraint("used >= 0 AND used <= capacity", name="used"))
    id: Mapped[int] = mapped_column(primary_key=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"))
    resource: Mapped[str] = mapped_column(sa.String(32))
    slot_start: Mapped[datetime]
    used: Mapped[int] = mapped_column(default=0)
    capacity: Mapped[int] = mapped_column(default=1)


class Booking(Base):
    """One booked visit; `customer_id` is empty for a prospect booking a test drive without a record."""

    __tablename__ = "bookings"
    __table_args__ = (
        sa.CheckConstraint("satisfaction IS NULL OR (satisfaction >= 1 AND satisfaction <= 5)", name="satisfaction"),
        sa.CheckConstraint("end_at > start_at", name="span"),
        # the dealer's calendar and lists, by time
        sa.Index("ix_bookings_dealer_start", "dealer_id", "start_at"),
        # "my bookings" and the active-bookings limits
        sa.Index("ix_bookings_customer_status", "customer_id", "status"),
        sa.Index("ix_bookings_follower_status", "follower_id", "status"),
        sa.Index("ix_bookings_vehicle_status", "vehicle_id", "status"),
        # the reminder job's scan: confirmed bookings starting within the next two days, all dealers
        sa.Index("ix_bookings_status_start", "status", "start_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"))
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"))
    follower_id: Mapped[int | None] = mapped_column(sa.ForeignKey("followers.id"))
    vehicle_id: Mapped[int | None] = mapped_column(sa.ForeignKey("vehicles.id"))
    service_type_id: Mapped[int] = mapped_column(sa.ForeignKey("service_types.id"), index=True)
    demo_car_id: Mapped[int | None] = mapped_column(sa.ForeignKey("demo_cars.id"), index=True)
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    slot_minutes: Mapped[int] = mapped_column(default=30)  # the grid it was booked on: its slots are reproducible
    status: Mapped[BookingStatus] = mapped_column(_enum(BookingStatus), default=BookingStatus.CONFIRMED)
    source: Mapped[BookingSource] = mapped_column(_enum(BookingSource, 8))
    contact_name: Mapped[str] = mapped_column(sa.String(64), default="")
    contact_mobile: Mapped[str] = mapped_column(sa.String(11), default="")
    licence_confirmed: Mapped[bool] = mapped_column(default=False)
    note: Mapped[str] = mapped_column(sa.String(500), default="")
    request_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    satisfaction: Mapped[int | None]
    cancel_reason: Mapped[str] = mapped_column(sa.String(200), default="")
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
