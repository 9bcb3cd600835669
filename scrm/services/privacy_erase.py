"""Erase a customer's personal data on request (PIPL art. 47), in one transaction.

The Customer row stays as a tombstone (ids elsewhere point at it) with every personal field emptied;
the rows that hang off it are deleted; the records merged into it are erased with it (they hold its
history). What remains is the PrivacyRequest: who, when, why, counts, and keyed fingerprints of the
mobile and the dealer system's id (see `privacy.erased_identity`), never the values themselves.

The bound followers' WeChat messages are account-level rows: they are blanked (type kept) only when
staff ask for it and the follower is bound to no other dealer, whose own records they also are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import (
    AuditLog,
    BindingCode,
    Booking,
    BookingStatus,
    ConsentRecord,
    Customer,
    CustomerBinding,
    CustomerScore,
    Delivery,
    DeliveryStatus,
    DuplicatePair,
    Follower,
    LeadIntent,
    LeadScore,
    MergeRecord,
    MessageLog,
    PairStatus,
    PrivacyKind,
    PrivacyRequest,
    RepairOrder,
    StaffNote,
    StaffUser,
    Task,
    TimelineEntry,
    Vehicle,
)
from scrm.services import audit
from scrm.services.errors import DomainError
from scrm.services.normalize_base import N_
from scrm.services.privacy import AlreadyErased, check_reason, fingerprints, load_customer
from scrm.services.scope import Scope
from scrm.services.validation import Problems

MERGE_DEPTH = 20  # merged into a record that was merged into another ...: a chain is short in practice


class MergedAway(DomainError):
    message = N_("This record was merged into customer #%(id)s: erase that one instead, which erases this one too.")


@dataclass
class Preview:
    """What an erasure would remove, for the confirmation page (no personal data)."""

    customer_ids: list[int]
    counts: dict[str, int]
    followers: int = 0
    followers_elsewhere: int = 0  # bound to another dealer too: their messages stay
    messages: int = 0  # messages of the other followers, blanked when asked
    notes: list[str] = field(default_factory=list)


def _family(s: Session, customer: Customer) -> list[int]:
    """The customer and every record merged into it, at any depth."""
    ids = [customer.id]
    frontier = [customer.id]
    for _ in range(MERGE_DEPTH):
        frontier = list(s.scalars(sa.select(Customer.id).where(
            Customer.merged_into_id.in_(frontier), Customer.dealer_id == customer.dealer_id)))
        frontier = [i for i in frontier if i not in ids]
        if not frontier:
            break
        ids.extend(frontier)
    return ids


def _count(s: Session, model: type[Any], *where: sa.ColumnElement[bool]) -> int:
    return int(s.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


def _followers(s: Session, ids: list[int], dealer_id: int) -> tuple[list[int], list[int]]:
    """Bound followers: (those bound to this dealer only, those also bound to another dealer)."""
    bound = list(s.scalars(sa.select(CustomerBinding.follower_id).where(
        CustomerBinding.customer_id.in_(ids), CustomerBinding.dealer_id == dealer_id).distinct()))
    elsewhere = set(s.scalars(sa.select(CustomerBinding.follower_id).where(
        CustomerBinding.follower_id.in_(bound), CustomerBinding.customer_id.not_in(ids))))
    return [f for f in bound if f not in elsewhere], [f for f in bound if f in elsewhere]


def _counts(s: Session, ids: list[int]) -> dict[str, int]:
    return {
        "customers": len(ids),
        "vehicles": _count(s, Vehicle, Vehicle.customer_id.in_(ids)),
        "repair_orders": _count(s, RepairOrder, RepairOrder.customer_id.in_(ids)),
        "timeline_entries": _count(s, TimelineEntry, TimelineEntry.customer_id.in_(ids)),
        "staff_notes": _count(s, StaffNote, StaffNote.customer_id.in_(ids)),
        "bindings": _count(s, CustomerBinding, CustomerBinding.customer_id.in_(ids)),
        "consent_records": _count(s, ConsentRecord, ConsentRecord.customer_id.in_(ids)),
    }


def _check(scope: Scope, customer: Customer) -> None:
    if customer.erased_at is not None:
        raise AlreadyErased()
    if customer.merged_into_id is not None:
        raise MergedAway(id=customer.merged_into_id)


def preview(actor: StaffUser, customer_id: int) -> Preview:
    """What erasing the customer would remove; raises like `erase_customer` would."""
    scope = Scope.of(actor)
    customer = load_customer(scope, customer_id)
    _check(scope, customer)
    s = db.session()
    ids = _family(s, customer)
    only_here, elsewhere = _followers(s, ids, customer.dealer_id)
    messages = _count(s, MessageLog, MessageLog.account_id == customer.account_id,
                      MessageLog.follower_id.in_(only_here)) if only_here else 0
    return Preview(customer_ids=ids, counts=_counts(s, ids), followers=len(only_here) + len(elsewhere),
                   followers_elsewhere=len(elsewhere), messages=messages)


def erase_customer(actor: StaffUser, customer_id: int, *, confirm: str, reason: str, erase_messages: bool = False,
                   ip: str = "") -> PrivacyRequest:
    """Erase a customer (and the records merged into it); managers and brand admins, after confirmation."""
    scope = Scope.of(actor)
    customer = load_customer(scope, customer_id)
    _check(scope, customer)
    p = Problems()
    if confirm.strip().lstrip("#") != str(customer.id):
        p.add("confirm", "Type the customer number %(id)s exactly to confirm.", id=customer.id)
    reason = check_reason(p, reason)
    p.raise_if_any()
    now = db.utcnow()
    with db.transaction() as s:
        # lock the row and look again: a second erasure racing this one finds it erased and stops
        customer = s.scalars(sa.select(Customer).where(Customer.id == customer.id).with_for_update()
                             .execution_options(populate_existing=True)).one()
        _check(scope, customer)
        ids = _family(s, customer)
        family = list(s.scalars(sa.select(Customer).where(Customer.id.in_(ids)).with_for_update()
                                .execution_options(populate_existing=True)))
        identity: dict[str, list[str]] = {"mobile": [], "external_id": []}
        for c in family:
            for kind, values in fingerprints(c).items():
                identity[kind].extend(v for v in values if v not in identity[kind])
        only_here, elsewhere = _followers(s, ids, customer.dealer_id)
        counts = _counts(s, ids)
        counts.update(_remove_rows(s, ids, customer, only_here + elsewhere, now, actor.id))
        if erase_messages and only_here:
            counts["messages_blanked"] = _blank_messages(s, customer.account_id, only_here)
        for c in family:
            _tombstone(c, now)
        req = PrivacyRequest(account_id=customer.account_id, dealer_id=customer.dealer_id, customer_id=customer.id,
                             kind=PrivacyKind.ERASE, staff_id=actor.id, reason=reason, created_at=now,
                             detail={"counts": counts, "customers": ids, "identity": identity,
                                     "erase_messages": erase_messages, "followers": len(only_here) + len(elsewhere),
                                     "followers_kept_messages": len(elsewhere) if erase_messages else 0})
        s.add(req)
        s.flush()
        # earlier audit rows about these customers carry note texts and tags: keep the row, drop the detail
        s.execute(sa.update(AuditLog).where(
            AuditLog.account_id == customer.account_id, AuditLog.target_type == "customer",
            AuditLog.target_id.in_([str(i) for i in ids]), AuditLog.action.not_like("privacy.%"))
            .values(detail={"erased": req.id}).execution_options(synchronize_session=False))
        audit.record(s, staff=actor, action="privacy.erase", target_type="customer", target_id=customer.id,
                     detail={"request": req.id, "reason": reason, "counts": counts}, ip=ip,
                     dealer_id=customer.dealer_id)
    return req


def _remove_rows(s: Session, ids: list[int], customer: Customer, followers: list[int], now: datetime,
                 staff_id: int) -> dict[str, int]:
    """Delete the dependent rows; close pairs, scrub merge snapshots, revoke codes, cancel pending sends."""
    def run(stmt: sa.Executable) -> int:
        return int(getattr(s.execute(stmt.execution_options(synchronize_session=False)), "rowcount", 0) or 0)

    vehicles = sa.select(Vehicle.id).where(Vehicle.customer_id.in_(ids)).scalar_subquery()
    run(sa.update(RepairOrder).where(RepairOrder.vehicle_id.in_(vehicles)).values(vehicle_id=None))
    bookings = _erase_bookings(s, ids, now)
    run(sa.update(Booking).where(Booking.vehicle_id.in_(vehicles)).values(vehicle_id=None))
    for model in (RepairOrder, Vehicle, TimelineEntry, StaffNote, CustomerBinding, ConsentRecord, Task,
                  CustomerScore, LeadIntent, LeadScore):
        run(sa.delete(model).where(model.customer_id.in_(ids)))
    out = {
        "duplicate_pairs_closed": run(sa.update(DuplicatePair).where(
            DuplicatePair.status == PairStatus.OPEN,
            sa.or_(DuplicatePair.first_id.in_(ids), DuplicatePair.second_id.in_(ids)))
            .values(status=PairStatus.DISMISSED, resolved_at=now, resolved_by=staff_id)),
        "merge_records_scrubbed": run(sa.update(MergeRecord).where(
            sa.or_(MergeRecord.survivor_id.in_(ids), MergeRecord.merged_id.in_(ids))).values(before={})),
        "binding_codes_revoked": run(sa.update(BindingCode).where(
            BindingCode.customer_id.in_(ids), BindingCode.used_at.is_(None), BindingCode.revoked_at.is_(None))
            .values(revoked_at=now)),
        "deliveries_cancelled": 0,
        **bookings,
    }
    if followers:  # what the person said they want to buy, and how hot a lead they were
        for model in (LeadIntent, LeadScore):
            run(sa.delete(model).where(model.follower_id.in_(followers)))
        out["deliveries_cancelled"] = run(sa.update(Delivery).where(
            Delivery.dealer_id == customer.dealer_id, Delivery.follower_id.in_(followers),
            Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.HELD]))
            .values(status=DeliveryStatus.CANCELLED, result="erased"))
    return out


def _erase_bookings(s: Session, ids: list[int], now: datetime) -> dict[str, int]:
    """Cancel the customers' upcoming bookings (their slots freed) and blank every booking's contact details."""
    from scrm.services import booking_slots

    upcoming = list(s.scalars(sa.select(Booking).where(
        Booking.customer_id.in_(ids), Booking.status.in_((BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN)),
        Booking.end_at > now).order_by(Booking.id).with_for_update()))
    for b in upcoming:
        booking_slots.apply(s, b.dealer_id, take=[], release=booking_slots.held(b), capacity={})
        b.status, b.cancelled_at, b.cancel_reason, b.updated_at = BookingStatus.CANCELLED, now, "erased", now
    s.flush()
    blanked = s.execute(sa.update(Booking).where(Booking.customer_id.in_(ids))
                        .values(contact_name="", contact_mobile="", note="", follower_id=None)
                        .execution_options(synchronize_session=False))
    return {"bookings_cancelled": len(upcoming), "bookings_blanked": int(getattr(blanked, "rowcount", 0) or 0)}


def _blank_messages(s: Session, account_id: int, followers: list[int]) -> int:
    """Empty the content of the followers' messages (type and time stay) and forget their location."""
    result = s.execute(sa.update(MessageLog).where(
        MessageLog.account_id == account_id, MessageLog.follower_id.in_(followers), MessageLog.content != "")
        .values(content="").execution_options(synchronize_session=False))
    s.execute(sa.update(Follower).where(Follower.id.in_(followers))
              .values(latitude=None, longitude=None, location_at=None, remark="")
              .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def _tombstone(c: Customer, now: datetime) -> None:
    for name in ("external_id", "name", "mobile", "landline", "gender", "birthday", "city", "source",
                 "consent_at", "consent_text"):
        setattr(c, name, None)
    c.tags = []
    c.erased_at = now
    c.updated_at = now
