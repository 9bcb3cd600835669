"""Imports on SQLite, as `scrm demo` runs them: the portable write path (no COPY, no sequences, no ANY)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.db import Base
from scrm.models import Customer, RepairOrder, TimelineEntry, Vehicle
from scrm.services import accounts
from scrm.services.imports import import_customers, import_repair_orders
from tests.factories import make_dealer

pytestmark = pytest.mark.integration


@pytest.fixture
def on_sqlite(live_server: Any, app_ctx: Any, database_url: str, tmp_path: Path) -> Iterator[None]:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    Base.metadata.create_all(db.init_engine(url))
    accounts.forget_cache()
    try:
        yield
    finally:
        db.init_engine(database_url)
        accounts.forget_cache()


def test_customer_and_repair_order_imports_on_sqlite(on_sqlite: None, tmp_path: Path) -> None:
    assert not db.is_postgres()
    dealer = make_dealer()
    people = tmp_path / "c.csv"
    people.write_text("客户编号,姓名,手机,车架号,车牌号,行驶里程\n"
                      "C1,张伟,13812345678,LSVAM4186C2184841,沪A12345,1000\n"
                      "C2,李娜,13987654321,,,\n"
                      "C3,坏,123,,,\n", encoding="utf-8")
    first = import_customers(people, dealer=dealer)
    assert (first.created, first.rejected) == (2, 1)
    again = import_customers(people, dealer=dealer)
    assert (again.created, again.unchanged) == (0, 2)
    orders = tmp_path / "o.csv"
    orders.write_text("工单号,结算日期,金额,里程,车牌号,客户编号\nR1,2024-05-01,100,5000,沪A12345,\n"
                      "R2,2024-05-02,50,,,C2\nR3,2024-05-03,1,,,C9\n", encoding="utf-8")
    summary = import_repair_orders(orders, dealer=dealer)
    assert (summary.created, summary.rejected) == (2, 1)
    db.session.remove()
    car = db.session.scalars(sa.select(Vehicle)).one()
    assert (car.mileage, car.last_service_date) == (5000, date(2024, 5, 1))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RepairOrder)) == 2
    kinds = sorted(db.session.scalars(sa.select(TimelineEntry.kind)))
    assert kinds == ["import.created", "import.created", "service", "service"]
