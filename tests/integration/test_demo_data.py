"""The demo data: loads once, and every record in it passes the validation rules the import enforces."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Dealer, Follower, KeywordReply, StaffUser
from scrm.models.customer import Customer, CustomerBinding, RepairOrder, Vehicle
from scrm.services import normalize
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
    for v in db.session.scalars(sa.select(Vehicle)):
        assert normalize.vin(v.vin) == v.vin
        assert normalize.plate(v.plate) == v.plate
    for c in db.session.scalars(sa.select(Customer)):
        phone = normalize.phone(c.mobile)
        assert phone is not None and phone.kind == "mobile"
    bound = db.session.scalars(sa.select(CustomerBinding)).all()
    assert bound and all(db.session.get(Follower, b.follower_id).dealer_id == b.dealer_id for b in bound)
