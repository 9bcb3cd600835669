"""A dealer's customer records: customers, their vehicles and service history, the timeline, notes,
follower bindings, and the file imports that feed them.

Every row carries `account_id` and `dealer_id`, so the generic dealer scoping rule covers it.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from scrm.db import Base, utcnow


def _enum(e: type[enum.Enum], length: int = 16) -> sa.Enum:
    return sa.Enum(e, native_enum=False, length=length, values_callable=lambda x: [m.value for m in x])


class Stage(enum.StrEnum):
    """Lifecycle stage of a customer."""

    LEAD = "lead"
    PROSPECT = "prospect"
    OWNER = "owner"
    LOST = "lost"


class Gender(enum.StrEnum):
    MALE = "male"
    FEMALE = "female"


class Customer(Base):
    """A person on a dealer's books; mobile and the dealer system's id are unique per dealer when set."""

    __tablename__ = "customers"
    __table_args__ = (sa.UniqueConstraint("dealer_id", "mobile"), sa.UniqueConstraint("dealer_id", "external_id"),
                      # the staff list pages by (updated_at, id), newest first, per dealer or per account
                      sa.Index("ix_customers_dealer_updated", "dealer_id", "updated_at", "id"),
                      sa.Index("ix_customers_account_updated", "account_id", "updated_at", "id"),
                      # merges are rare: only merged records enter the index (imports skip it)
                      sa.Index("ix_customers_merged_into_id", "merged_into_id",
                               postgresql_where=sa.text("merged_into_id IS NOT NULL"),
                               sqlite_where=sa.text("merged_into_id IS NOT NULL")))
    id: Mapped[int] = mapped_column(primary_key=True)
    # account_id, dealer_id: no foreign keys (checked from the parent's side, scrm/models/guards.py); any
    # account-leading index below serves `account_id = ?`
    account_id: Mapped[int]  # accounts.id
    dealer_id: Mapped[int]  # dealers.id
    external_id: Mapped[str | None] = mapped_column(sa.String(64))
    name: Mapped[str | None] = mapped_column(sa.String(64))
    mobile: Mapped[str | None] = mapped_column(sa.String(11))
    landline: Mapped[str | None] = mapped_column(sa.String(20))
    gender: Mapped[Gender | None] = mapped_column(_enum(Gender, 8))
    birthday: Mapped[date | None]
    city: Mapped[str | None] = mapped_column(sa.String(50))
    source: Mapped[str | None] = mapped_column(sa.String(50))
    stage: Mapped[Stage] = mapped_column(_enum(Stage), default=Stage.LEAD)
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    consent_at: Mapped[datetime | None]
    consent_text: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"))
    erased_at: Mapped[datetime | None]


# Staff search (scrm.services.customer_admin), per dealer and per account (brand admins): the exact mobile
# ((dealer_id, mobile) is the unique constraint), its last 4 digits (mobiles are stored as 11 digits), the
# landline, and a name prefix (lower(name) LIKE 'x%' needs text_pattern_ops on PostgreSQL's collations).
# A dealer belongs to one account and a dealer's scope says both, so one (account_id, key, dealer_id) index
# serves both scopes: the brand admin's by its prefix, the dealer's with dealer_id checked inside the index
# (an index condition for last4, a filter on index entries for a name prefix); one index fewer to write per
# imported row than a dealer_id-leading twin (BENCHMARKS.md, customer import, 17:30 session).
sa.Index("ix_customers_account_mobile", Customer.account_id, Customer.mobile)
sa.Index("ix_customers_account_landline", Customer.account_id, Customer.landline,
         postgresql_where=Customer.landline.is_not(None), sqlite_where=Customer.landline.is_not(None))
sa.Index("ix_customers_account_last4", Customer.account_id, sa.func.substr(Customer.mobile, 8, 4).label("last4"),
         Customer.dealer_id)
sa.Index("ix_customers_account_name", Customer.account_id, sa.func.lower(Customer.name).label("lname"),
         Customer.dealer_id, postgresql_ops={"lname": "text_pattern_ops"})


class Vehicle(Base):
    """A car owned by a customer; the VIN is unique per dealer when set."""

    __tablename__ = "vehicles"
    __table_args__ = (sa.UniqueConstraint("dealer_id", "vin"),
                      # search by plate, per account (brand admins) and per dealer (dealer_id in the index)
                      sa.Index("ix_vehicles_account_plate", "account_id", "plate", "dealer_id"),
                      # a brand admin's search by VIN covers every dealer of the account
                      sa.Index("ix_vehicles_account_vin", "account_id", "vin"),
                      # the model filter and its choices (a loose index scan over the models in scope; a
                      # dealer's scope checks dealer_id on the index entries)
                      sa.Index("ix_vehicles_account_model", "account_id", "model", "dealer_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    # no foreign keys: checked from the parent's side (scrm/models/guards.py)
    account_id: Mapped[int]  # accounts.id
    dealer_id: Mapped[int]  # dealers.id
    customer_id: Mapped[int]  # customers.id (ix_vehicles_customer_id, below)
    vin: Mapped[str | None] = mapped_column(sa.String(17))
    plate: Mapped[str | None] = mapped_column(sa.String(10))
    brand: Mapped[str | None] = mapped_column(sa.String(50))
    model: Mapped[str | None] = mapped_column(sa.String(100))
    model_year: Mapped[int | None]
    purchase_date: Mapped[date | None]
    mileage: Mapped[int | None]
    mileage_date: Mapped[date | None]
    last_service_date: Mapped[date | None]
    last_service_mileage: Mapped[int | None]
    insurance_expiry: Mapped[date | None]
    warranty_expiry: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RepairOrder(Base):
    """One workshop visit from the dealer system."""

    __tablename__ = "repair_orders"
    __table_args__ = (sa.UniqueConstraint("dealer_id", "external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    # account_id, dealer_id, customer_id: checked from the parent's side (scrm/models/guards.py); vehicle_id
    # keeps its foreign key (vehicles are deleted by merges and erasure)
    account_id: Mapped[int] = mapped_column(index=True)  # accounts.id
    dealer_id: Mapped[int]  # dealers.id
    customer_id: Mapped[int] = mapped_column(index=True)  # customers.id
    vehicle_id: Mapped[int | None] = mapped_column(sa.ForeignKey("vehicles.id"), index=True)
    external_id: Mapped[str] = mapped_column(sa.String(64))
    date: Mapped[date]
    type: Mapped[str] = mapped_column(sa.String(50), default="")
    amount: Mapped[Decimal | None] = mapped_column(sa.Numeric(12, 2))
    mileage: Mapped[int | None]
    advisor: Mapped[str] = mapped_column(sa.String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TimelineEntry(Base):
    """Something that happened to a customer; `title` is an English msgid translated on display."""

    __tablename__ = "timeline_entries"
    # every read goes through one customer's entries; no index on account_id / dealer_id (none reads by them)
    __table_args__ = (sa.Index("ix_timeline_entries_customer_occurred", "customer_id", "occurred_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    # no foreign keys: checked from the parent's side (scrm/models/guards.py)
    account_id: Mapped[int]  # accounts.id
    dealer_id: Mapped[int]  # dealers.id
    customer_id: Mapped[int]  # customers.id
    kind: Mapped[str] = mapped_column(sa.String(32))
    title: Mapped[str] = mapped_column(sa.String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StaffNote(Base):
    """A free-text note a staff member wrote about a customer."""

    __tablename__ = "staff_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"), index=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerBinding(Base):
    """A follower linked to a customer; at most one customer per dealer for each follower."""

    __tablename__ = "customer_bindings"
    __table_args__ = (sa.UniqueConstraint("follower_id", "dealer_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"), index=True)
    follower_id: Mapped[int] = mapped_column(sa.ForeignKey("followers.id"))
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"))  # ix_customer_bindings_customer_id
    method: Mapped[str] = mapped_column(sa.String(8), default="chat")  # a BindMethod value
    bound_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The follower's `subscribed AND NOT opt_out_marketing`, kept by triggers on both tables (migration 0002)
    # so that a segment count reads it from the bindings' index instead of probing a follower per contact.
    # Written by the database: a value the app sends is replaced.
    reachable: Mapped[bool] = mapped_column(server_default=sa.false())


class ImportKind(enum.StrEnum):
    CUSTOMERS = "customers"
    REPAIR_ORDERS = "repair_orders"


class ImportStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ImportJob(Base):
    """One file import: its counts, its rejected-rows report, and how it ended."""

    __tablename__ = "import_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"), index=True)
    kind: Mapped[ImportKind] = mapped_column(_enum(ImportKind))
    filename: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[ImportStatus] = mapped_column(_enum(ImportStatus), default=ImportStatus.QUEUED, index=True)
    total: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    processed: Mapped[int] = mapped_column(default=0)  # rows done so far, while running
    language: Mapped[str] = mapped_column(sa.String(8), default="zh")  # of the report and the error text
    claimed_by: Mapped[str] = mapped_column(sa.String(64), default="")
    heartbeat_at: Mapped[datetime | None]  # the worker's last sign of life; stale means it crashed
    report_path: Mapped[str] = mapped_column(sa.String(500), default="")
    started_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    error: Mapped[str] = mapped_column(sa.Text, default="")


# The segment compiler's joins from a customer, index-only (scrm/services/segment_compile.py): a customer's
# vehicles with the two dates car-care segments test (age, last service), and a customer's followers.
sa.Index("ix_vehicles_customer_id", Vehicle.customer_id,
         postgresql_include=["purchase_date", "last_service_date"])
sa.Index("ix_customer_bindings_customer_id", CustomerBinding.customer_id, CustomerBinding.follower_id,
         postgresql_include=["reachable"])
