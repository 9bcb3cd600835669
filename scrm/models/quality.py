"""Data quality: duplicate candidate pairs, merges (and their undo), and quality report snapshots."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from scrm.db import Base, utcnow


def _enum(e: type[enum.Enum], length: int = 16) -> sa.Enum:
    return sa.Enum(e, native_enum=False, length=length, values_callable=lambda x: [m.value for m in x])


class PairStatus(enum.StrEnum):
    """Where staff review of a candidate pair stands."""

    OPEN = "open"
    MERGED = "merged"
    DISMISSED = "dismissed"  # staff said: not the same person; never proposed again


class PairKind(enum.StrEnum):
    EXACT = "exact"  # same mobile or same VIN
    FUZZY = "fuzzy"  # similar name with the same plate, a mobile one typo away, ...


class DuplicatePair(Base):
    """Two customers of one dealer that may be the same person; `first_id` < `second_id`."""

    __tablename__ = "duplicate_pairs"
    __table_args__ = (sa.UniqueConstraint("dealer_id", "first_id", "second_id"),
                      sa.Index("ix_duplicate_pairs_dealer_status_score", "dealer_id", "status", "score"))
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"))
    first_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    second_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    kind: Mapped[PairKind] = mapped_column(_enum(PairKind, 8))
    score: Mapped[int] = mapped_column(default=0)  # 0..100, higher is more certain
    reasons: Mapped[list[str]] = mapped_column(sa.JSON, default=list)  # reason codes, e.g. "same_mobile"
    status: Mapped[PairStatus] = mapped_column(_enum(PairStatus, 12), default=PairStatus.OPEN)
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))


class MergeRecord(Base):
    """One merge of `merged_id` into `survivor_id`: what changed, so that it can be undone exactly."""

    __tablename__ = "merge_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"), index=True)
    survivor_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    merged_id: Mapped[int] = mapped_column(sa.ForeignKey("customers.id"), index=True)
    pair_id: Mapped[int | None] = mapped_column(sa.ForeignKey("duplicate_pairs.id"))
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    # field values of both customers before the merge: {"survivor": {...}, "merged": {...}}
    before: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # ids of the rows moved from merged to survivor, by table: {"vehicles": [..], "staff_notes": [..]}
    moved: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[datetime | None]
    undone_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))


class QualitySnapshot(Base):
    """A dealer's quality report figures at one moment, kept for before/after comparison."""

    __tablename__ = "quality_snapshots"
    __table_args__ = (sa.Index("ix_quality_snapshots_dealer_taken", "dealer_id", "taken_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    dealer_id: Mapped[int] = mapped_column(sa.ForeignKey("dealers.id"))
    label: Mapped[str] = mapped_column(sa.String(100), default="")
    figures: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    taken_by: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_users.id"))
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)
