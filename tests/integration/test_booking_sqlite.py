"""Book, fill up, move, cancel and complete on SQLite, as `scrm demo` runs them (the portable upsert)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scrm import db
from scrm.db import Base
from scrm.models import BookingStatus
from scrm.services import accounts, booking, booking_status
from scrm.services.booking_availability import availability
from tests.factories import make_staff
from tests.integration.booking_support import assert_slot_invariant, at, day_ahead, make_shop, request

pytestmark = pytest.mark.integration


@pytest.fixture
def on_sqlite(app: Any, database_url: str, tmp_path: Path) -> Iterator[None]:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    Base.metadata.create_all(db.init_engine(url))
    accounts.forget_cache()
    try:
        yield
    finally:
        db.init_engine(database_url)
        accounts.forget_cache()


def test_booking_on_sqlite(on_sqlite: None) -> None:
    assert not db.is_postgres()
    shop = make_shop()
    made = [booking.book(request(shop, shop.maintenance, at(10), contact_mobile=f"1390000000{n}")) for n in range(2)]
    assert booking.book(request(shop, shop.maintenance, at(10), request_key=made[0].request_key)).id == made[0].id
    with pytest.raises(booking.SlotTaken) as exc:
        booking.book(request(shop, shop.maintenance, at(10, 30), contact_mobile="13900000009"))
    assert at(11) in exc.value.alternatives or at(9) in exc.value.alternatives
    free = availability(shop.dealer.id, shop.maintenance.id, day_ahead(3), 1)[0].slots
    times = [f.local.strftime("%H:%M") for f in free]
    assert "09:00" in times and "09:30" not in times and "10:00" not in times and "10:30" not in times
    booking.move(made[0].id, at(14))
    booking_status.cancel(made[1].id)
    assert booking_status.complete(made[0].id, make_staff(dealer=shop.dealer)).status == BookingStatus.COMPLETED
    td = booking.book(request(shop, shop.test_drive, at(9), licence_confirmed=True, demo_model="极氪007"))
    assert td.demo_car_id == shop.cars[2].id
    assert_slot_invariant(shop.dealer.id)
