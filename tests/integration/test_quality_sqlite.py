"""Detection, the report, merge and unmerge on SQLite, as `scrm demo` runs them (the portable paths)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.db import Base
from scrm.models import Customer, DuplicatePair, PairStatus, Role
from scrm.services import accounts, duplicates, merge, merge_undo, quality
from scrm.services.normalize import vin_check_digit
from tests.factories import make_dealer, make_staff
from tests.integration.customer_support import make_customer, make_vehicle

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


def test_everything_on_sqlite(on_sqlite: None) -> None:
    assert not db.is_postgres()
    d = make_dealer()
    good_vin = "LSVAU218" + vin_check_digit("LSVAU2180N2183294") + "N2183294"
    a = make_customer(d, name="张伟", mobile="13812345678", birthday=date(1980, 1, 1))
    make_vehicle(a, plate="沪A12345", vin=good_vin, mileage=1000)
    b = make_customer(d, name="章伟", mobile="13812345687")  # homophone + transposed digits
    make_vehicle(b, plate="沪A12345", vin="LSVAU2180N2183295")  # wrong check digit
    make_customer(d, name="李娜", mobile="1381234", birthday=date(1985, 2, 2))
    make_customer(d, name="李娜", mobile="13912345678", birthday=date(1985, 2, 2))
    result = duplicates.detect(d.id)
    assert result.pairs == 2 and result.candidates["mobile"] >= 1
    figures = quality.compute(d.id)
    assert figures["fields"]["customer.mobile"] == {"filled": 4, "valid": 3, "total": 4}
    assert figures["fields"]["vehicle.vin"] == {"filled": 2, "valid": 1, "total": 2}
    assert figures["fields"]["vehicle.plate"]["valid"] == 2 and figures["shares"]["duplicates"] == 4
    manager = make_staff(role=Role.DEALER_MANAGER, dealer=d)
    record = merge.merge_customers(manager, a.id, b.id)
    assert db.session.get(Customer, b.id).merged_into_id == a.id  # type: ignore[union-attr]
    merge_undo.unmerge(manager, record.id)
    db.session.remove()
    assert db.session.get(Customer, b.id).merged_into_id is None  # type: ignore[union-attr]
    assert db.session.get(Customer, b.id).mobile == "13812345687"  # type: ignore[union-attr]
    assert all(p.status == PairStatus.OPEN for p in db.session.scalars(sa.select(DuplicatePair)))
