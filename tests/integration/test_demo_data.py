"""The demo data: loads once, and every record in it passes the validation rules the import enforces."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import (
    Booking,
    BookingStatus,
    Dealer,
    DemoCar,
    Follower,
    KeywordReply,
    OpeningHours,
    ServiceType,
    StaffUser,
)
from scrm.models.customer import Customer, CustomerBinding, RepairOrder, Vehicle
from scrm.services import booking_slots, normalize
from scrm.services.demo_data import seed

pytestmark = pytest.mark.integration


def _count(model: Any) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_seed_is_idempotent_and_valid(app_ctx: Any) -> None:
    first = seed()
    assert first["dealers"] == 3 and first["customers"] > 0
    counts = {m: _count(m) for m in (Dealer, StaffUser, Follower, KeywordReply, Customer, Vehicle, RepairOrder,
                                     CustomerBinding)}
    assert seed()["dealers"] == 0                       # a second run adds nothing
    assert counts == {m: _count(m) for m in counts}
    assert 250 <= counts[Customer] <= 400 and counts[Vehicle] > 150 and counts[RepairOrder] > counts[Vehicle]
    for v in db.session.scalars(sa.select(Vehicle)):
        assert v.vin is None or normalize.vin(v.vin) == v.vin  # a planted duplicate may carry only the plate
        assert normalize.plate(v.plate) == v.plate
    for c in db.session.scalars(sa.select(Customer)):
        phone = normalize.phone(c.mobile or c.landline)  # a few old records have only a landline
        assert phone is not None and phone.kind == ("mobile" if c.mobile else "landline")
    bound = db.session.scalars(sa.select(CustomerBinding)).all()
    assert len(bound) > 50
    assert all(db.session.get(Follower, b.follower_id).dealer_id == b.dealer_id for b in bound)
    # planted duplicates: two customers of one dealer with the same name and birthday
    same = sa.select(Customer.dealer_id, Customer.name, Customer.birthday).group_by(
        Customer.dealer_id, Customer.name, Customer.birthday).having(sa.func.count() > 1)
    assert db.session.execute(same).first() is not None
    # bookings: every dealer is configured, has coming and past visits, and the slot counters are true
    assert first["bookings"] == _count(Booking) and _count(Booking) >= 30
    assert _count(ServiceType) == 12 and _count(DemoCar) == 12 and _count(OpeningHours) == 42
    statuses = set(db.session.scalars(sa.select(Booking.status)))
    assert {BookingStatus.CONFIRMED, BookingStatus.COMPLETED} <= statuses
    for dealer_id in db.session.scalars(sa.select(Dealer.id)):
        stored, expected = booking_slots.recount(db.session(), dealer_id)
        assert stored == expected and stored
    test_drives = db.session.scalars(sa.select(Booking).where(Booking.demo_car_id.is_not(None))).all()
    assert test_drives and all(b.licence_confirmed for b in test_drives)
    # loyalty: the policy, rules, tiers and badges; a catalogue and events per dealer; members whose cached
    # balances match the ledger and whose tiers follow what they earned
    from scrm.models import Badge, ClubEvent, EarningRule, Member, PointsEntry, Reward, Tier
    from scrm.services import ledger

    assert first["rewards"] == _count(Reward) == 12 and first["club_events"] == _count(ClubEvent) == 6
    assert _count(Tier) == 4 and _count(Badge) == 5 and _count(EarningRule) == 11
    assert first["points_entries"] == _count(PointsEntry) > 100 and _count(Member) == 40
    assert ledger.verify() == []
    tiered = db.session.scalars(sa.select(Member).where(Member.tier_id.is_not(None))).all()
    assert len(tiered) == 40 and any(m.balance >= 500 for m in tiered)
    from scrm.services import tiers

    for m in tiered:  # each member's tier is the one their last 12 months earn today
        assert tiers.refresh_in(db.session(), m, db.utcnow()) is None
