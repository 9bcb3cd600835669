"""The parent-side guards of the customer data an import writes (customers, vehicles, timeline entries, repair
orders: scrm/models/guards.py), on PostgreSQL: deleting a row they still name is refused with 23503."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from scrm import db
from scrm.db import utcnow
from scrm.models import Customer, Dealer, TimelineEntry
from tests.factories import make_dealer
from tests.integration.customer_support import make_customer, make_repair_order, make_vehicle

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _postgres_only(app_ctx: Any) -> None:
    if db.engine().dialect.name != "postgresql":
        pytest.skip("the guards are PostgreSQL triggers; SQLite keeps no such references")


def _delete(table: str, row_id: int) -> None:
    with db.transaction() as s:
        s.execute(sa.text(f"DELETE FROM {table} WHERE id = :id"), {"id": row_id})  # noqa: S608 (test's own names)


def _refused(table: str, row_id: int, child: str) -> None:
    with pytest.raises(IntegrityError) as err:
        _delete(table, row_id)
    assert getattr(err.value.orig, "sqlstate", None) == "23503"
    assert f'"{child}" rows still reference it' in str(err.value)
    with db.transaction() as s:
        assert s.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE id = :id"), {"id": row_id}) == 1  # noqa: S608


def _timeline(c: Customer) -> None:
    with db.transaction() as s:
        s.add(TimelineEntry(account_id=c.account_id, dealer_id=c.dealer_id, customer_id=c.id, kind="note",
                            occurred_at=utcnow(), created_at=utcnow()))


@pytest.mark.parametrize("child", ["vehicles", "timeline_entries", "repair_orders"])
def test_a_customer_that_still_has_data_cannot_be_deleted(child: str) -> None:
    d = make_dealer()
    c = make_customer(d)
    if child == "vehicles":
        make_vehicle(c, vin="LSVAA4182E2184841", plate="沪A12345")
    elif child == "timeline_entries":
        _timeline(c)
    else:
        make_repair_order(c, date(2026, 5, 1))
    _refused("customers", c.id, child)
    with pytest.raises(IntegrityError), db.transaction() as s:   # nor renumbered under its rows
        s.execute(sa.text("UPDATE customers SET id = id + 1000000 WHERE id = :id"), {"id": c.id})


def test_a_dealer_with_customers_cannot_be_deleted_and_an_empty_one_can() -> None:
    d, empty = make_dealer(), make_dealer()
    make_customer(d)
    _refused("dealers", d.id, "customers")
    _delete("dealers", empty.id)
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Dealer).where(Dealer.id == empty.id)) == 0


def test_a_customer_whose_data_is_gone_deletes_and_other_columns_still_update() -> None:
    d = make_dealer()
    c = make_customer(d)
    v = make_vehicle(c, plate="沪B54321")
    _timeline(c)
    with db.transaction() as s:
        s.execute(sa.update(Customer).where(Customer.id == c.id).values(name="改名"))   # not an id change
        s.execute(sa.text("DELETE FROM vehicles WHERE id = :id"), {"id": v.id})
        s.execute(sa.text("DELETE FROM timeline_entries WHERE customer_id = :id"), {"id": c.id})
    _delete("customers", c.id)
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Customer).where(Customer.id == c.id)) == 0


def test_no_foreign_key_checks_the_imported_rows_but_repair_orders_keep_their_vehicle_key() -> None:
    with db.engine().connect() as conn:
        fks = {(r[0], r[1]) for r in conn.execute(sa.text(
            "SELECT c.conrelid::regclass::text, a.attname FROM pg_constraint c "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey) WHERE c.contype = 'f' "
            "AND c.conrelid::regclass::text IN ('customers', 'vehicles', 'timeline_entries', 'repair_orders')"))}
    assert fks == {("customers", "merged_into_id"), ("repair_orders", "vehicle_id")}
