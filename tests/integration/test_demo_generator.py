"""The demo-data generator: valid and deterministic records, planted duplicates, and a dirty CSV whose
bad rows the real import rejects with the expected reasons."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Customer, CustomerBinding, Dealer, Follower, MessageLog, RepairOrder, TimelineEntry, Vehicle
from scrm.services import normalize
from scrm.services.demo_csv import REJECTED_KINDS
from scrm.services.demo_generator import DealerSpec, Generator, homophone, typo_mobile
from scrm.services.demo_run import Options, generate
from scrm.services.imports.run import import_customers
from tests.factories import make_dealer

pytestmark = pytest.mark.integration
TODAY = date(2026, 11, 22)


def _records(seed: int) -> list[dict[str, Any]]:
    gen = Generator(seed, TODAY, duplicate_rate=0.05)
    return [asdict(c) for c in gen.batch(DealerSpec(1, "SH001", "上海浦东旗舰店", "上海"), 400)]


def test_same_seed_same_records_other_seed_other_records() -> None:
    first = _records(11)
    assert first == _records(11)
    assert first != _records(12)


def test_homophones_and_typos_stay_plausible() -> None:
    import random

    rng = random.Random(1)
    name = homophone("张伟", rng)
    assert name != "张伟" and len(name) == 2 and sum(a != b for a, b in zip(name, "张伟", strict=True)) == 1
    typo = typo_mobile("13812345678", rng)
    assert sum(a != b for a, b in zip(typo, "13812345678", strict=True)) == 1
    assert normalize.phone(typo).kind == "mobile"


def _count(model: Any) -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_generate_into_the_database(app_ctx: Any) -> None:
    summary = generate(Options(customers=1500, seed=3, duplicate_rate=0.06, batch_size=400, today=TODAY))
    assert summary["customers"] == 1500 and _count(Customer) == 1500
    assert _count(Dealer) == 1  # a few dealers per 10,000 customers: one for 1,500
    rows = summary["rows"]
    assert isinstance(rows, dict)
    assert rows["vehicles"] == _count(Vehicle) > 800 and rows["repair_orders"] == _count(RepairOrder) > 1500
    assert _count(CustomerBinding) == _count(Follower) > 200 and _count(MessageLog) > 100
    assert _count(TimelineEntry) >= 1500
    planted = summary["planted_duplicates"]
    assert isinstance(planted, dict) and all(n > 0 for n in planted.values())

    customers = db.session.scalars(sa.select(Customer)).all()
    for c in customers:
        phone = normalize.phone(c.mobile or c.landline)
        assert phone is not None and phone.value == (c.mobile or c.landline)
        assert normalize.person_name(c.name) == c.name
    vehicles = db.session.scalars(sa.select(Vehicle)).all()
    for v in vehicles:
        assert v.vin is None or normalize.vin(v.vin) == v.vin
        assert normalize.plate(v.plate) == v.plate
        assert v.purchase_date <= TODAY and v.warranty_expiry > v.purchase_date
    assert any(len(v.plate) == 8 for v in vehicles)  # new-energy plates
    # service history climbs with time and matches the vehicle's last service
    history: dict[int, list[RepairOrder]] = defaultdict(list)
    for r in db.session.scalars(sa.select(RepairOrder).order_by(RepairOrder.date)):
        history[r.vehicle_id or 0].append(r)
    for v in vehicles:
        orders = history.get(v.id, [])
        assert [r.mileage for r in orders] == sorted(r.mileage for r in orders)
        if orders:
            assert (v.last_service_date, v.last_service_mileage) == (orders[-1].date, orders[-1].mileage)
            assert orders[0].date > v.purchase_date and orders[-1].date <= TODAY

    # each kind of planted duplicate is really there
    by_mobile_tail: dict[str, list[Customer]] = defaultdict(list)
    for c in customers:
        if c.mobile:
            by_mobile_tail[c.mobile[3:]].append(c)
    assert any(len(group) == 2 and group[0].name == group[1].name for group in by_mobile_tail.values())
    keys = [(c.name, c.birthday) for c in customers]
    assert len(keys) - len(set(keys)) >= planted["name_birthday"]
    owners_by_plate: dict[str, set[str]] = defaultdict(set)
    names = {c.id: c.name for c in customers}
    for v in vehicles:
        owners_by_plate[v.plate].add(names[v.customer_id])
    pairs = [sorted(n) for n in owners_by_plate.values() if len(n) == 2]
    assert any(len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == 1 for a, b in pairs)


def test_reruns_add_without_collisions_and_dealer_option(app_ctx: Any) -> None:
    dealer = make_dealer(code="HZ9", name="杭州测试店", city="杭州")
    generate(Options(customers=300, seed=5, dealer="HZ9", today=TODAY))
    generate(Options(customers=300, seed=5, dealer="HZ9", today=TODAY))  # same seed again: new numbers
    assert db.session.scalar(sa.select(sa.func.count()).where(Customer.dealer_id == dealer.id)) == 600
    assert _count(Dealer) == 1
    plates = db.session.scalars(sa.select(Vehicle.plate)).all()
    assert plates and all(p.startswith("浙") for p in plates)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk"])
def test_dirty_csv_rows_are_rejected_by_the_import_with_their_reasons(app_ctx: Any, tmp_path: Path,
                                                                     encoding: str) -> None:
    path = tmp_path / "dms.csv"
    summary = generate(Options(customers=400, seed=9, csv=path, csv_only=True, dirty_rate=0.15, encoding=encoding,
                               today=TODAY))
    assert summary["csv_rows"] == 400 and _count(Customer) == 0  # --csv-only writes nothing to the database
    dirty = _dirty_lines(path, encoding)
    kinds = set(dirty.values())
    assert kinds == {"bad_mobile", "bad_vin", "impossible_date", "landline"}
    dealer = make_dealer(code="SH9", name="上海测试店")
    result = import_customers(path, dealer=dealer, language="en")
    rejected = {line: kind for line, kind in dirty.items() if kind in REJECTED_KINDS}
    assert result.rejected == len(rejected) and result.created == 400 - len(rejected)
    assert result.report_path is not None
    with result.report_path.open(encoding="utf-8-sig") as fh:
        reasons = {int(row[0]): row[1] for row in list(csv.reader(fh))[1:]}
    assert set(reasons) == set(rejected)
    expected = {"bad_mobile": "is not a mainland mobile", "bad_vin": "fails its check",
                "impossible_date": "There is no such day"}
    for line, kind in rejected.items():
        assert expected[kind] in reasons[line], (kind, reasons[line])
    landlines = [line for line, kind in dirty.items() if kind == "landline"]
    kept = db.session.scalars(sa.select(Customer).where(Customer.landline.is_not(None))).all()
    assert len(kept) >= len(landlines) and all(c.mobile is None for c in kept)


def _dirty_lines(path: Path, encoding: str) -> dict[int, str]:
    """Which lines the generator spoilt, recomputed from the file itself."""
    out: dict[int, str] = {}
    with path.open(encoding=encoding) as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            mobile, vin, birthday = row["手机"], row["车架号"], row["生日"]
            if birthday.endswith("-02-30"):
                out[line] = "impossible_date"
            elif vin and normalize.vin_check_digit(vin) != vin[8]:
                out[line] = "bad_vin"
            elif "-" in mobile:  # spoilt, or one of the few old records with only a landline
                out[line] = "landline"
            elif mobile and len(mobile) != 11:
                out[line] = "bad_mobile"
    return out


@pytest.fixture
def on_sqlite(app_ctx: Any, database_url: str, tmp_path: Path) -> Any:
    """Point the process at a fresh SQLite file (what `make demo` runs on), then back."""
    from scrm.db import Base
    from scrm.services import accounts

    Base.metadata.create_all(db.init_engine(f"sqlite:///{tmp_path / 'demo.db'}"))
    accounts.forget_cache()
    try:
        yield
    finally:
        db.session.remove()
        db.init_engine(database_url)
        accounts.forget_cache()


def test_the_demo_seed_and_the_generator_on_sqlite(on_sqlite: None) -> None:
    from scrm.services.demo_data import seed

    assert not db.is_postgres()
    assert seed()["customers"] == 300
    summary = generate(Options(customers=500, seed=4, batch_size=200, today=TODAY))
    assert summary["customers"] == 500 and _count(Customer) == 800
    assert _count(CustomerBinding) == _count(Follower) - 60  # the demo's 60 unbound followers
    search = db.session.scalars(sa.select(Customer).where(Customer.mobile.is_not(None)).limit(1)).one()
    from scrm.models import Role
    from scrm.services import customer_admin as svc
    from scrm.services.scope import Scope

    brand = Scope(account_id=search.account_id, dealer_id=None, role=Role.BRAND_ADMIN)
    for q in (search.mobile, search.mobile[-4:], search.name[:2]):
        ids = {r.customer.id for r in svc.list_customers(brand, svc.CustomerFilter(q=q), per_page=500).rows}
        assert search.id in ids
    assert svc.model_choices(brand) and svc.list_customers(brand, svc.CustomerFilter(tags=("试驾过",))).rows


def test_nothing_happens_in_the_future() -> None:
    from datetime import UTC, datetime, time

    cutoff = datetime.combine(TODAY, time(), tzinfo=UTC)
    for c in Generator(8, TODAY, duplicate_rate=0.05).batch(DealerSpec(1, "SH001", "x", "上海"), 2000):
        assert c.created_at <= c.updated_at < cutoff
        for v in c.vehicles:
            assert all(r.date < TODAY for r in v.repairs)
        if c.follower:
            f = c.follower
            assert f.subscribed_at <= f.bound_at < cutoff and all(at < cutoff for at, _, _ in f.messages)
            assert f.unsubscribed_at is None or f.unsubscribed_at <= cutoff
