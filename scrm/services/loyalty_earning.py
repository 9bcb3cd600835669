"""Earning points from business events: completed bookings, bindings and a complete profile.

Subscribers run in the publishing transaction (a booking's completion, a binding), so the points
commit or roll back with the change that caused them. A customer's event pays every subscribed
follower bound to that customer at that dealer, each as their own member; the ledger's idempotency
key (one per cause and member) makes every payment exactly-once across retries and replays.
The periodic payers (repair orders, birthdays, late-completed profiles) are in loyalty_earning_scan.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.models import Customer, CustomerBinding, Follower, ServiceKind, ServiceType, Trigger, Vehicle
from scrm.services import events_bus, ledger, loyalty_rules
from scrm.services.binding_events import CustomerBound
from scrm.services.booking_events import BookingCompleted

PAID_SERVICE_KINDS = (ServiceKind.MAINTENANCE, ServiceKind.REPAIR, ServiceKind.BODYWORK)


def bound_followers_in(s: Session, customer_id: int, dealer_id: int) -> list[int]:
    """The subscribed followers bound to `customer_id` at `dealer_id`, in binding order."""
    return list(s.scalars(
        sa.select(CustomerBinding.follower_id).join(Follower, Follower.id == CustomerBinding.follower_id)
        .where(CustomerBinding.customer_id == customer_id, CustomerBinding.dealer_id == dealer_id,
               Follower.subscribed.is_(True))
        .order_by(CustomerBinding.id)))


def pay_in(s: Session, follower_ids: list[int], trigger: Trigger, *, account_id: int, dealer_id: int,
           key: str, source: str, source_id: str, amount: float | None = None,
           now: datetime | None = None) -> int:
    """Pay `trigger` to each follower as their own member, key `<key>:<member>`; return the points paid.

    Nothing is written (not even a member row) when the dealer has no active rule for the trigger.
    """
    if not follower_ids or loyalty_rules.resolve(s, account_id, dealer_id, trigger) is None:
        return 0
    paid = 0
    for follower_id in dict.fromkeys(follower_ids):  # each follower once, in order
        m = ledger.member_in(s, follower_id)
        if m.account_id != account_id:
            continue
        paid += ledger.earn_in(s, m.id, trigger, key=f"{key}:{m.id}", source=source, source_id=source_id,
                               dealer_id=dealer_id, amount=amount, now=now).points
    return paid


def profile_complete_in(s: Session, customer: Customer) -> bool:
    """True when the customer has a name, mobile, birthday, city and at least one vehicle."""
    if not (customer.name or "").strip() or not customer.mobile or customer.birthday is None:
        return False
    if not (customer.city or "").strip():
        return False
    return s.scalar(sa.select(Vehicle.id).where(Vehicle.customer_id == customer.id).limit(1)) is not None


def pay_profile_in(s: Session, follower_id: int, customer: Customer, now: datetime | None = None) -> int:
    """PROFILE_COMPLETED once per member (key `profile:<member>`) when the bound customer is complete."""
    if customer.erased_at is not None or customer.merged_into_id is not None:
        return 0
    if not profile_complete_in(s, customer):
        return 0
    return pay_in(s, [follower_id], Trigger.PROFILE_COMPLETED, account_id=customer.account_id,
                  dealer_id=customer.dealer_id, key="profile", source="member", source_id=str(customer.id),
                  now=now)


def on_booking_completed(s: Session, event: BookingCompleted) -> None:
    """A completed maintenance, repair or bodywork visit pays the customer's members and the booker."""
    st = s.get(ServiceType, event.service_type_id)
    if st is None or st.kind not in PAID_SERVICE_KINDS:
        return  # test drives pay the referrer elsewhere, never here
    followers = bound_followers_in(s, event.customer_id, event.dealer_id) if event.customer_id else []
    if event.follower_id is not None:
        followers.append(event.follower_id)
    pay_in(s, followers, Trigger.BOOKING_COMPLETED, account_id=event.account_id, dealer_id=event.dealer_id,
           key=f"booking:{event.booking_id}", source="booking", source_id=str(event.booking_id),
           now=event.completed_at)


def on_customer_bound(s: Session, event: CustomerBound) -> None:
    """The first binding of a member at a dealer pays BINDING; a complete profile pays once too."""
    pay_in(s, [event.follower_id], Trigger.BINDING, account_id=event.account_id, dealer_id=event.dealer_id,
           key=f"binding:{event.dealer_id}", source="member", source_id=str(event.binding_id), now=event.at)
    customer = s.get(Customer, event.customer_id)
    if customer is not None:
        pay_profile_in(s, event.follower_id, customer, now=event.at)


events_bus.subscribe(BookingCompleted, on_booking_completed, name="loyalty.earn.booking")
events_bus.subscribe(CustomerBound, on_customer_bound, name="loyalty.earn.binding")
