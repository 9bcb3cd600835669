"""Binding a follower to a dealer's customer record: the link itself (after consent), new leads for
unknown mobiles, and unbinding. Who is binding is checked first in `binding_verify`.

The chat flow (handlers/binding.py), the one-time QR (binding_codes) and the H5 form all end in
`link_in`, one transaction that writes the binding, the consent record and the timeline entry.
A follower has at most one customer per dealer (the unique constraint decides races); a customer
may be bound to several followers (a family sharing a car).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from scrm import db
from scrm.db import utcnow
from scrm.models import (
    BindMethod,
    ConsentRecord,
    Customer,
    CustomerBinding,
    Dealer,
    Follower,
    StaffUser,
    Stage,
    TimelineEntry,
    Vehicle,
)
from scrm.security import mask_phone
from scrm.services import audit, events_bus
from scrm.services.binding_events import CustomerBound
from scrm.services.errors import DomainError
from scrm.services.normalize_base import N_

logger = logging.getLogger(__name__)
LEAD_SOURCE = "wechat"

audit.ACTIONS.update({
    "binding.code_create": "Made a one-time binding QR code",
    "binding.code_revoke": "Revoked a binding QR code",
    "binding.unbind": "Unbound a WeChat follower from a customer",
})


class BindingError(DomainError):
    """The binding could not go on; subclasses say why."""


class AlreadyBound(BindingError):
    """The follower already has a record at this dealer."""

    message = N_("You are already bound to a customer record of this dealer.")

    def __init__(self, bound: Bound | None) -> None:
        super().__init__()
        self.bound = bound


class NotBindable(BindingError):
    message = N_("This record cannot be bound right now.")


@dataclass(frozen=True)
class Bound:
    """What a follower may see of their own bound record."""

    binding_id: int
    customer_id: int
    dealer_id: int
    name: str
    masked_mobile: str
    plates: tuple[str, ...]
    method: str


@dataclass(frozen=True)
class Linked:
    """A binding that was just made."""

    binding_id: int
    customer_id: int
    dealer_id: int
    new_lead: bool


def dealer_of(account_id: int, dealer_id: int | None) -> int | None:
    """`dealer_id` when it is an active dealer of the account."""
    if dealer_id is None:
        return None
    with db.transaction() as s:
        d = s.get(Dealer, dealer_id)
        return d.id if d is not None and d.account_id == account_id and d.active else None


def _bound_in(s: Session, follower_id: int, dealer_id: int) -> Bound | None:
    row = s.execute(sa.select(CustomerBinding, Customer).join(Customer, Customer.id == CustomerBinding.customer_id)
                    .where(CustomerBinding.follower_id == follower_id,
                           CustomerBinding.dealer_id == dealer_id)).first()
    if row is None:
        return None
    b, c = row
    plates = s.scalars(sa.select(Vehicle.plate).where(Vehicle.customer_id == c.id, Vehicle.plate.is_not(None))
                       .order_by(Vehicle.id))
    return Bound(binding_id=b.id, customer_id=c.id, dealer_id=b.dealer_id, name=c.name or "",
                 masked_mobile=mask_phone(c.mobile or ""), plates=tuple(p for p in plates if p), method=b.method)


def current(follower_id: int, dealer_id: int) -> Bound | None:
    """The follower's bound record at the dealer, if any."""
    with db.transaction() as s:
        return _bound_in(s, follower_id, dealer_id)


def bindings_of(follower_id: int) -> list[Bound]:
    """Every record the follower is bound to (one per dealer)."""
    with db.transaction() as s:
        dealers = s.scalars(sa.select(CustomerBinding.dealer_id).where(CustomerBinding.follower_id == follower_id)
                            .order_by(CustomerBinding.id))
        return [b for d in list(dealers) if (b := _bound_in(s, follower_id, d)) is not None]


def _follower(s: Session, follower_id: int) -> Follower:
    stmt = sa.select(Follower).where(Follower.id == follower_id)
    if s.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    f = s.scalar(stmt)
    if f is None:
        raise NotBindable()
    return f


def link_in(s: Session, *, follower_id: int, customer: Customer, method: BindMethod, consent_text: str,
            language: str, staff: StaffUser | None = None) -> CustomerBinding:
    """Record the consent, then bind the follower to `customer`, in the caller's transaction.

    Raises AlreadyBound when the follower has a record at the customer's dealer (also when a
    concurrent request won the race: the unique constraint decides).
    """
    f = _follower(s, follower_id)  # serialises this follower's bindings on PostgreSQL
    if f.account_id != customer.account_id or customer.merged_into_id is not None or customer.erased_at is not None:
        raise NotBindable()
    existing = _bound_in(s, f.id, customer.dealer_id)
    if existing is not None:
        raise AlreadyBound(existing)
    now = utcnow()
    s.add(ConsentRecord(account_id=customer.account_id, dealer_id=customer.dealer_id, customer_id=customer.id,
                        follower_id=f.id, granted=True, channel=method, text=consent_text, language=language,
                        created_at=now))
    customer.consent_at, customer.consent_text, customer.updated_at = now, consent_text, now
    binding = CustomerBinding(account_id=customer.account_id, dealer_id=customer.dealer_id, follower_id=f.id,
                              customer_id=customer.id, method=method.value, bound_at=now)
    s.add(binding)
    s.flush()  # a concurrent bind of this follower at this dealer fails here (callers map IntegrityError)
    if f.dealer_id is None:
        f.dealer_id = customer.dealer_id
    s.add(TimelineEntry(account_id=customer.account_id, dealer_id=customer.dealer_id, customer_id=customer.id,
                        kind="binding", title=N_("Bound to WeChat"), occurred_at=now, created_at=now,
                        detail={"method": method.value, "follower_id": f.id,
                                "staff": (staff.display_name or staff.username) if staff else ""}))
    events_bus.publish(s, CustomerBound(follower_id=f.id, customer_id=customer.id, dealer_id=customer.dealer_id,
                                        account_id=customer.account_id, binding_id=binding.id,
                                        method=method.value, at=now))
    return binding


def _done(binding: CustomerBinding, new_lead: bool) -> Linked:
    return Linked(binding_id=binding.id, customer_id=binding.customer_id, dealer_id=binding.dealer_id,
                  new_lead=new_lead)


def lost_race(follower_id: int, dealer_id: int, exc: IntegrityError) -> BindingError:
    """What a unique-constraint failure meant: another request bound the follower first, or not."""
    db.session.rollback()
    bound = current(follower_id, dealer_id)
    logger.info("binding: follower %s lost a race at dealer %s (%s)", follower_id, dealer_id, type(exc).__name__)
    return AlreadyBound(bound) if bound is not None else NotBindable()


def link(*, follower_id: int, customer_id: int, method: BindMethod, consent_text: str, language: str) -> Linked:
    """Bind the follower to a verified record after consent (one transaction)."""
    dealer_id = 0
    try:
        with db.transaction() as s:
            customer = s.get(Customer, customer_id)
            if customer is None:
                raise NotBindable()
            dealer_id = customer.dealer_id
            binding = link_in(s, follower_id=follower_id, customer=customer, method=method,
                              consent_text=consent_text, language=language)
            return _done(binding, False)
    except IntegrityError as exc:
        raise lost_race(follower_id, dealer_id, exc) from exc


def link_new_lead(*, account_id: int, dealer_id: int, follower_id: int, mobile: str, method: BindMethod,
                  consent_text: str, language: str) -> Linked:
    """No record has this mobile: make a lead for the dealer and bind it (no dead end)."""
    now = utcnow()
    try:
        with db.transaction() as s:
            customer = Customer(account_id=account_id, dealer_id=dealer_id, mobile=mobile, source=LEAD_SOURCE,
                                stage=Stage.LEAD, created_at=now, updated_at=now)
            s.add(customer)
            s.flush()
            s.add(TimelineEntry(account_id=account_id, dealer_id=dealer_id, customer_id=customer.id, kind="lead",
                                title=N_("Became a lead from WeChat"), occurred_at=now, created_at=now,
                                detail={"method": method.value}))
            binding = link_in(s, follower_id=follower_id, customer=customer, method=method,
                              consent_text=consent_text, language=language)
            return _done(binding, True)
    except IntegrityError as exc:  # the follower was bound meanwhile, or a record with this mobile appeared
        raise lost_race(follower_id, dealer_id, exc) from exc


def unbind(follower_id: int, dealer_id: int) -> Bound | None:
    """The follower removes their binding at the dealer; returns what was unbound (None: nothing)."""
    with db.transaction() as s:
        bound = _bound_in(s, follower_id, dealer_id)
        if bound is None:
            return None
        remove_in(s, bound.binding_id, N_("Unbound from WeChat by the follower"), staff=None)
        return bound


def remove_in(s: Session, binding_id: int, title: str, staff: StaffUser | None) -> CustomerBinding | None:
    b = s.get(CustomerBinding, binding_id)
    if b is None:
        return None
    now = utcnow()
    s.add(TimelineEntry(account_id=b.account_id, dealer_id=b.dealer_id, customer_id=b.customer_id, kind="binding",
                        title=title, occurred_at=now, created_at=now,
                        detail={"follower_id": b.follower_id, "method": b.method,
                                "staff": (staff.display_name or staff.username) if staff else ""}))
    s.delete(b)
    return b
