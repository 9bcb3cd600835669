"""Big files are validated in a helper process: the same rows, values, rejections (line and reason),
progress and idempotent re-import as the in-process path; a helper that fails stops the import."""

from __future__ import annotations

import csv
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Customer, ImportJob, ImportStatus, TimelineEntry, Vehicle
from scrm.services.imports import import_customers, parallel
from scrm.services.imports.customers import parse_row
from scrm.services.imports.readers import UnreadableFile
from scrm.services.normalize import vin_check_digit
from tests.factories import make_dealer

pytestmark = pytest.mark.integration
HEADER = ["客户编号", "姓名", "手机号码", "性别", "生日", "城市", "车架号", "车牌号", "车型", "购车日期", "行驶里程"]


def _vin(n: int) -> str:
    body = f"LSVAM41{n:010d}"
    return body[:8] + vin_check_digit(body) + body[9:]


def write_big(path: Path, rows: int) -> Path:
    """`rows` rows in the formats dealers use, every 7th one dirty in one of three ways."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for n in range(rows):
            row = [f"C{n:05d}", "张伟" if n % 2 else "李娜", f"138{n:08d}", "男" if n % 3 else "女",
                   ("1985/3/7", "1990年12月1日", "19791010", "")[n % 4], ("上海", "苏州")[n % 2],
                   _vin(n) if n % 5 else "", f"沪A{n % 100000:05d}" if n % 5 else "", "帕萨特" if n % 5 else "",
                   "2021-05-06" if n % 5 else "", f"{n * 7:,}" if n % 5 else ""]
            if n % 7 == 3:
                row[(2, 4, 6)[n % 3]] = ("12345", "2023年2月30日", "LSVAM4187C2184841")[n % 3]
            writer.writerow(row)
    return path


def stored(dealer_id: int) -> list[tuple[Any, ...]]:
    """The dealer's customers and vehicles without ids and timestamps (which differ between two imports)."""
    db.session.remove()
    customers = db.session.execute(
        sa.select(Customer.external_id, Customer.name, Customer.mobile, Customer.gender, Customer.birthday,
                  Customer.city, Customer.stage).where(Customer.dealer_id == dealer_id)
        .order_by(Customer.external_id)).all()
    vehicles = db.session.execute(
        sa.select(Customer.external_id, Vehicle.vin, Vehicle.plate, Vehicle.model, Vehicle.purchase_date,
                  Vehicle.mileage).join(Customer, Customer.id == Vehicle.customer_id)
        .where(Vehicle.dealer_id == dealer_id).order_by(Vehicle.vin)).all()
    entries = db.session.scalar(sa.select(sa.func.count()).select_from(TimelineEntry)
                                .where(TimelineEntry.dealer_id == dealer_id))
    db.session.remove()
    return [*map(tuple, customers), *map(tuple, vehicles), (entries,)]


def test_helper_process_gives_the_same_import(app_ctx: Any, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_big(tmp_path / "big.csv", 700)
    here, there = make_dealer(code="HERE"), make_dealer(code="THERE")
    monkeypatch.setattr(parallel, "MIN_ROWS", 10**9)
    plain = import_customers(path, dealer=here, report_path=tmp_path / "here.csv", batch_size=100)

    monkeypatch.setattr(parallel, "MIN_ROWS", 100)
    helpers: list[list[str]] = []
    steps: list[int] = []

    def progress(rows: int) -> None:
        steps.append(rows)
        helpers.append([p.name for p in multiprocessing.active_children()])

    split = import_customers(path, dealer=there, report_path=tmp_path / "there.csv", batch_size=20,
                             progress=progress)
    assert "import-parser" in helpers[0]  # the rows came from the helper (which ends once all are queued)
    assert steps == [20] * 35
    assert (split.total, split.created, split.updated, split.unchanged, split.rejected) == \
        (plain.total, plain.created, plain.updated, plain.unchanged, plain.rejected) == (700, 600, 0, 0, 100)
    assert (tmp_path / "there.csv").read_bytes() == (tmp_path / "here.csv").read_bytes()
    assert stored(there.id) == stored(here.id)
    assert not [p for p in multiprocessing.active_children() if p.name == "import-parser"]

    again = import_customers(path, dealer=there, report_path=tmp_path / "again.csv", batch_size=100)
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 600, 100)
    assert stored(there.id) == stored(here.id)
    db.session.remove()
    job = db.session.get_one(ImportJob, again.job_id)
    assert (job.status, job.processed) == (ImportStatus.DONE, 700)


def test_a_failing_helper_stops_the_import(app_ctx: Any, tmp_path: Path) -> None:
    chunks = parallel.parsed_chunks(tmp_path / "gone.csv", parse_row, {"姓名": "name"}, 100)
    with pytest.raises(UnreadableFile) as failure:
        next(chunks)
    assert "could not be opened" in failure.value.message
    assert not [p for p in multiprocessing.active_children() if p.name == "import-parser"]
