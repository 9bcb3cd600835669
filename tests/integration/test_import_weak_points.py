"""Two fixed weak points of the customer import: a CLI import killed mid-run is reaped (its job heart-beats like a
worker's), and a mobile already held by another dealer-system customer number is never adopted."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from scrm import ROOT, db, runtime
from scrm.cli import main
from scrm.db import utcnow
from scrm.models import Customer, ImportJob, ImportStatus
from scrm.services.imports import import_customers
from scrm.services.imports.jobs import reap_stale_imports
from tests.factories import make_dealer
from tests.integration.customer_support import make_customer
from tests.integration.outbox_helpers import to_toml

pytestmark = pytest.mark.integration


@pytest.fixture
def config(app_ctx: Any, settings: Any, settings_dict: dict[str, Any], tmp_path: Path) -> Any:
    path = tmp_path / "cli.toml"
    path.write_text(to_toml(settings_dict), encoding="utf-8")
    yield path
    runtime.init(settings)


def big_file(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["客户编号", "姓名", "手机"])
        writer.writerows([f"K{i}", f"客户{i}", f"135{i:08d}"] for i in range(rows))
    return path


def job_row() -> ImportJob | None:
    db.session.remove()
    job = db.session.scalars(sa.select(ImportJob).order_by(ImportJob.id.desc()).limit(1)).first()
    db.session.remove()
    return job


def test_killed_cli_import_is_reaped_not_left_running(config: Path, tmp_path: Path) -> None:
    make_dealer(code="KILL1")
    path = big_file(tmp_path / "big.csv", 40_000)
    proc = subprocess.Popen([sys.executable, "-m", "scrm.cli", "--config", str(config), "import", "customers",
                             str(path), "--dealer", "KILL1"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job = job_row()
            if job is not None and job.processed > 0:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the CLI import never reported progress")
        os.kill(proc.pid, signal.SIGKILL)   # no handler runs: only the heartbeat can tell
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    job = job_row()
    assert job is not None and job.status == ImportStatus.RUNNING
    assert job.claimed_by.startswith("cli:") and job.heartbeat_at is not None and 0 < job.processed < 40_000
    assert reap_stale_imports() == 0                                   # a fresh heartbeat is not reaped
    assert reap_stale_imports(now=utcnow() + timedelta(minutes=11)) == 1
    job = job_row()
    assert job is not None and job.status == ImportStatus.FAILED and "命令行导入意外中止" in job.error


def test_next_cli_run_reaps_a_stale_cli_job(config: Path, tmp_path: Path) -> None:
    dealer = make_dealer(code="KILL2")
    with db.transaction() as s:
        s.add(ImportJob(account_id=dealer.account_id, dealer_id=dealer.id, kind="customers", filename="old.csv",
                        status=ImportStatus.RUNNING, claimed_by="cli:host:1",
                        heartbeat_at=utcnow() - timedelta(hours=1)))
    path = big_file(tmp_path / "small.csv", 3)
    result = CliRunner().invoke(main, ["--config", str(config), "import", "customers", str(path),
                                       "--dealer", "KILL2"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "marked 1 stale import job(s) as failed" in result.stdout
    db.session.remove()
    statuses = [j.status for j in db.session.scalars(sa.select(ImportJob).order_by(ImportJob.id))]
    assert statuses == [ImportStatus.FAILED, ImportStatus.DONE]


def test_mobile_of_another_customer_number_is_not_adopted(app_ctx: Any, tmp_path: Path) -> None:
    dealer = make_dealer()
    held = make_customer(dealer, name="张伟", external_id="C001", mobile="13812345678")
    open_record = make_customer(dealer, name="李娜", external_id=None, mobile="13987654321")
    path = tmp_path / "c.csv"
    path.write_text("客户编号,姓名,手机\nC999,冒名,13812345678\nC555,李娜,13987654321\n", encoding="utf-8")
    summary = import_customers(path, dealer=dealer)
    assert (summary.rejected, summary.updated, summary.created) == (1, 1, 0)
    db.session.remove()
    assert db.session.get_one(Customer, held.id).external_id == "C001"
    assert db.session.get_one(Customer, held.id).name == "张伟"
    # A record without a customer number is the same person: it takes the number.
    assert db.session.get_one(Customer, open_record.id).external_id == "C555"
    assert summary.report_path is not None
    reason = list(csv.reader(summary.report_path.read_text(encoding="utf-8-sig").splitlines()))[1][1]
    assert "13812345678" in reason and "C001" in reason and "C999" in reason


def test_two_concurrent_imports_of_one_file_write_each_customer_once(app_ctx: Any, app: Any,
                                                                      tmp_path: Path) -> None:
    import threading

    dealer = make_dealer()
    path = big_file(tmp_path / "same.csv", 3000)
    summaries: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with app.app_context():
                summaries.append(import_customers(path, dealer=dealer, batch_size=500))
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and len(summaries) == 2
    assert sum(s.created for s in summaries) == 3000              # COPY clashes fall back to row by row
    assert all(s.created + s.unchanged + s.updated + s.rejected == 3000 for s in summaries)
    db.session.remove()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)
                             .where(Customer.dealer_id == dealer.id)) == 3000
    assert db.session.scalar(sa.select(sa.func.count(sa.distinct(Customer.mobile)))) == 3000
