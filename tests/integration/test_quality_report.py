"""The quality report's figures: each validity rule in SQL, coverage shares, snapshots and deltas."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from scrm.models import Gender, Role
from scrm.services import quality
from scrm.services.errors import Invalid, NotFound
from scrm.services.normalize import vin_check_digit
from tests.factories import make_dealer, make_follower, make_staff
from tests.integration.customer_support import bind, make_customer, make_vehicle

pytestmark = pytest.mark.integration


def vin(tail: str = "N2183294") -> str:
    return "LSVAU218" + vin_check_digit("LSVAU2180" + tail) + tail


def test_each_rule(app: Any) -> None:
    d = make_dealer()
    today = date.today()
    good = make_customer(d, name="张伟", mobile="13812345678", gender=Gender.MALE, birthday=date(1980, 1, 1),
                         city="上海", consent_at=None)
    bad = make_customer(d, name="客户007", mobile="12345678901", birthday=today - timedelta(days=365 * 5),
                        city="021")
    make_customer(d, name=None, mobile=None)
    make_vehicle(good, vin=vin(), plate="沪AD12345", model="ID.4", purchase_date=date(2022, 1, 1), mileage=12000,
                 last_service_date=date(2023, 1, 1), insurance_expiry=today + timedelta(days=200))
    make_vehicle(bad, vin=vin()[:8] + ("1" if vin()[8] != "1" else "2") + vin()[9:], plate="AB12345", model=" ",
                 purchase_date=today + timedelta(days=10), mileage=3_000_000,
                 last_service_date=date(2021, 1, 1), insurance_expiry=today + timedelta(days=3650))
    bind(good, make_follower())
    f = quality.compute(d.id)["fields"]
    assert f["customer.name"] == {"filled": 2, "valid": 1, "total": 3}      # digits in a name
    assert f["customer.mobile"] == {"filled": 2, "valid": 1, "total": 3}    # 12... is no mobile
    assert f["customer.gender"] == {"filled": 1, "valid": 1, "total": 3}
    assert f["customer.birthday"] == {"filled": 2, "valid": 1, "total": 3}  # a five-year-old owner
    assert f["customer.city"] == {"filled": 2, "valid": 1, "total": 3}
    assert f["vehicle.vin"] == {"filled": 2, "valid": 1, "total": 2}        # check digit
    assert f["vehicle.plate"] == {"filled": 2, "valid": 1, "total": 2}      # no province
    assert f["vehicle.model"] == {"filled": 1, "valid": 1, "total": 2}      # blank is not filled
    assert f["vehicle.purchase_date"]["valid"] == 1                          # in the future
    assert f["vehicle.mileage"]["valid"] == 1                                # 3,000,000 km
    assert f["vehicle.last_service_date"]["valid"] == 1                      # before the purchase
    assert f["vehicle.insurance_expiry"]["valid"] == 1                       # ten years ahead
    shares = quality.compute(d.id)["shares"]
    assert shares == {"with_vehicle": 2, "bound": 1, "consent": 0, "duplicates": 0}


def test_snapshots_and_deltas(app: Any) -> None:
    d = make_dealer()
    c = make_customer(d, name="张伟", city=None)
    manager = make_staff(role=Role.DEALER_MANAGER, dealer=d)
    snap = quality.take_snapshot(manager, d.id, "  清洗  前 ")
    assert snap.label == "清洗 前" and snap.taken_by == manager.id
    assert quality.ensure_daily_snapshot(manager, d.id) is None  # one today already
    from scrm import db

    with db.transaction() as s:
        row = s.get(type(c), c.id)
        assert row is not None
        row.city = "上海"
    now = quality.compute(d.id)
    lines = quality.lines(now, snap.figures)
    city = next(line for line in lines["customer"] if line.key == "city")
    assert city.complete == 100.0 and city.complete_delta == 100.0
    with pytest.raises(Invalid):
        quality.take_snapshot(manager, d.id, "x" * 101)
    other = make_staff(role=Role.DEALER_MANAGER, dealer=make_dealer())
    with pytest.raises(NotFound):
        quality.take_snapshot(other, d.id, "nope")
