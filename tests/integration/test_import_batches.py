"""Customer imports across batches: a batch that names rows the batch before it created, and a batch whose
COPY clashes with another writer (retried row by row)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.db import utcnow
from scrm.models import Customer, TimelineEntry, Vehicle
from scrm.services.imports import import_customers
from tests.factories import make_dealer
from tests.integration.test_import_customers import read_report, write_csv

pytestmark = pytest.mark.integration
VIN_1, VIN_2 = "LSVAM4186C2184841", "LFV2A21K8A3000001"


def _row(number: str, name: str, mobile: str, vin: str = "", city_note: str = "") -> list[str]:
    return [number, name, mobile, "", "", vin, "", "", "", "", city_note]


def _count(model: Any, dealer_id: int) -> int:
    db.session.remove()
    n = int(db.session.scalar(sa.select(sa.func.count()).select_from(model).where(model.dealer_id == dealer_id)) or 0)
    db.session.remove()
    return n


def test_a_batch_naming_what_the_batch_before_created_matches_it(app_ctx: Any, tmp_path: Path) -> None:
    dealer = make_dealer()
    rows = [_row("P1", "张伟", "13800000001", VIN_1), _row("P2", "李娜", "13800000002"),   # batch 1
            _row("P1", "张伟伟", "13800000001"),        # batch 2: the customer batch 1 created, renamed
            _row("P3", "王芳", "13800000003", VIN_1),    # batch 2: batch 1's VIN on someone else
            _row("", "赵强", "13800000002"),             # batch 3: batch 1's mobile, no number
            _row("", "王芳", "021-58881234"),            # batch 3: only a name and a landline
            _row("", "王芳", "021-58881234"),            # batch 4: the same again (no unique key catches it)
            _row("P4", "孙丽", "13800000004", VIN_2)]
    path = write_csv(tmp_path / "跨批.csv", rows)
    summary = import_customers(path, dealer=dealer, report_path=tmp_path / "bad.csv", batch_size=2)
    assert (summary.created, summary.updated, summary.unchanged, summary.rejected) == (4, 2, 1, 1)
    assert [r[0] for r in read_report(tmp_path / "bad.csv")[1:]] == ["5"]   # the VIN clash, by its file line
    assert _count(Customer, dealer.id) == 4 and _count(Vehicle, dealer.id) == 2
    db.session.remove()
    names = sorted(((e, n) for e, n in db.session.execute(sa.select(Customer.external_id, Customer.name)
                                                          .where(Customer.dealer_id == dealer.id))), key=str)
    assert names == sorted([("P1", "张伟伟"), ("P2", "赵强"), (None, "王芳"), ("P4", "孙丽")], key=str)
    assert _count(TimelineEntry, dealer.id) == 6   # 4 created + 2 updated


def test_a_batch_that_clashes_with_another_writer_is_written_again(app_ctx: Any, tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    if not db.is_postgres():
        pytest.skip("needs PostgreSQL's row-level waits on a unique index")
    dealer = make_dealer()
    rows = [_row(f"Q{n}", f"客户{n}", f"1390000{n:04d}") for n in range(1, 9)]
    path = write_csv(tmp_path / "并发.csv", rows)
    # Another writer inserts the customer of the file's third row and commits only after the import has
    # planned that row as new: the import's COPY waits on the unique index, then fails, and is retried.
    other = db.engine().connect()
    tx = other.begin()
    other.execute(sa.insert(Customer).values(account_id=dealer.account_id, dealer_id=dealer.id, name="别人写的",
                                             mobile="13900000003", stage="lead", tags=[], created_at=utcnow(),
                                             updated_at=utcnow()))
    timer = threading.Timer(1.5, tx.commit)
    timer.start()
    try:
        summary = import_customers(path, dealer=dealer, report_path=tmp_path / "bad.csv", batch_size=2)
    finally:
        timer.join()
        other.close()
    assert (summary.created, summary.updated, summary.rejected) == (7, 1, 0)
    assert "batch conflicted with concurrent writes" in caplog.text   # the COPY failed and was redone
    assert _count(Customer, dealer.id) == 8
    db.session.remove()
    assert db.session.scalar(sa.select(Customer.external_id).where(Customer.mobile == "13900000003",
                                                                   Customer.dealer_id == dealer.id)) == "Q3"
    db.session.remove()
