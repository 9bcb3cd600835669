"""Repair-order file import: every validation rule, every linking rule, idempotent re-import, the vehicle's last
service raised (never lowered), one timeline entry per new order, and `scrm import repair-orders`."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from scrm import db, runtime
from scrm.cli import main
from scrm.models import Customer, Dealer, ImportJob, ImportKind, ImportStatus, RepairOrder, TimelineEntry, Vehicle
from scrm.services.errors import DomainError
from scrm.services.imports import import_repair_orders
from tests.factories import make_dealer
from tests.integration.customer_support import make_customer, make_vehicle
from tests.integration.outbox_helpers import to_toml

pytestmark = pytest.mark.integration
VIN_A, VIN_B, VIN_C = "LSVAM4186C2184841", "LFV2A21K8A3000001", "LGBH52E00EY000123"
HEADER = ["工单号", "结算日期", "维修类型", "结算金额", "进厂里程", "服务顾问", "车架号", "车牌号", "客户编号", "手机"]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER, encoding: str = "utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def ro(number: str, day: str = "2024-03-05", kind: str = "保养", amount: str = "¥1,234.50", km: str = "12,000",
       advisor: str = "陈顾问", vin: str = "", plate: str = "", customer: str = "", mobile: str = "") -> list[str]:
    return [number, day, kind, amount, km, advisor, vin, plate, customer, mobile]


@pytest.fixture
def owners(app_ctx: Any) -> tuple[Dealer, dict[str, Customer], dict[str, Vehicle]]:
    """A dealer with four customers: two with cars (VIN / plate only), one by number, one by mobile."""
    dealer = make_dealer()
    people = {"vin": make_customer(dealer, name="张伟", external_id="C001", mobile="13812345678"),
              "plate": make_customer(dealer, name="李娜", external_id="C002", mobile="13987654321"),
              "number": make_customer(dealer, name="王芳", external_id="C003", mobile=None),
              "mobile": make_customer(dealer, name="赵强", external_id=None, mobile="13600001111")}
    cars = {"vin": make_vehicle(people["vin"], vin=VIN_A, plate="沪A12345", mileage=8000,
                                mileage_date=date(2023, 9, 1), last_service_date=date(2023, 9, 1),
                                last_service_mileage=8000),
            "plate": make_vehicle(people["plate"], plate="沪AD12345")}
    return dealer, people, cars


def orders(dealer: Dealer) -> dict[str, RepairOrder]:
    db.session.remove()
    return {o.external_id: o for o in db.session.scalars(sa.select(RepairOrder).where(
        RepairOrder.dealer_id == dealer.id))}


def vehicle(vehicle_id: int) -> Vehicle:
    db.session.remove()
    return db.session.get_one(Vehicle, vehicle_id)


def report_reasons(path: Path | None) -> dict[str, str]:
    assert path is not None
    rows = list(csv.reader(path.read_bytes().decode("utf-8-sig").splitlines()))
    return {row[0]: row[1] for row in rows[1:]}


def count(model: Any, *where: Any) -> int:
    db.session.remove()
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


def test_each_linking_rule(owners: Any, tmp_path: Path) -> None:
    dealer, people, cars = owners
    rows = [
        ro("RO1", vin=VIN_A, customer="C001"),                          # by VIN
        ro("RO2", plate="沪AD 12345"),                                   # by plate
        ro("RO3", customer="C003", vin=VIN_C),                           # by number: the car is added to C003
        ro("RO4", mobile="+86 136-0000-1111"),                           # by mobile
        ro("RO5", vin=VIN_B, customer="C999", mobile="13700000000"),     # nobody: rejected, nothing created
        ro("RO6", vin=VIN_A, customer="C002"),                           # C001's car named as C002's: rejected
    ]
    customers_before = count(Customer)
    summary = import_repair_orders(write_csv(tmp_path / "工单.csv", rows), dealer=dealer)
    assert (summary.total, summary.created, summary.rejected) == (6, 4, 2)
    got = orders(dealer)
    assert sorted(got) == ["RO1", "RO2", "RO3", "RO4"]
    assert (got["RO1"].customer_id, got["RO1"].vehicle_id) == (people["vin"].id, cars["vin"].id)
    assert (got["RO2"].customer_id, got["RO2"].vehicle_id) == (people["plate"].id, cars["plate"].id)
    added = db.session.scalars(sa.select(Vehicle).where(Vehicle.vin == VIN_C)).one()
    assert (got["RO3"].customer_id, got["RO3"].vehicle_id, added.customer_id) == \
        (people["number"].id, added.id, people["number"].id)
    assert (got["RO4"].customer_id, got["RO4"].vehicle_id) == (people["mobile"].id, None)
    assert count(Customer) == customers_before                    # a repair order never creates a customer
    assert count(Vehicle, Vehicle.vin == VIN_B) == 0
    reasons = report_reasons(summary.report_path)
    assert "客户" in reasons["6"] and "导入" in reasons["6"]          # no match: import the customer first
    assert "车架号:" in reasons["7"] and "C001" in reasons["7"] and "C002" in reasons["7"]
    first = got["RO1"]
    assert (first.date, first.type, first.amount, first.mileage, first.advisor) == \
        (date(2024, 3, 5), "保养", Decimal("1234.50"), 12000, "陈顾问")


def test_ambiguous_plate_falls_back_to_other_keys(app_ctx: Any, tmp_path: Path) -> None:
    dealer = make_dealer()
    a, b = make_customer(dealer, external_id="A1"), make_customer(dealer, external_id="B1")
    make_vehicle(a, plate="粤B12345")
    car_b = make_vehicle(b, plate="粤B12345")
    summary = import_repair_orders(write_csv(tmp_path / "p.csv", [ro("P1", plate="粤B12345"),
                                                                  ro("P2", plate="粤B12345", customer="B1")]),
                                   dealer=dealer)
    assert (summary.created, summary.rejected) == (1, 1)
    assert orders(dealer)["P2"].vehicle_id == car_b.id
    assert "粤B12345" in report_reasons(summary.report_path)["2"]


def test_each_validation_rule(owners: Any, tmp_path: Path) -> None:
    dealer, _, _ = owners
    future = (date.today() + timedelta(days=10)).isoformat()
    rows = [
        ro("", customer="C001"),                                   # 2: no order number
        ro("V2", day="", customer="C001"),                         # 3: no date
        ro("V3", day="2024-02-30", customer="C001"),               # 4: no such day
        ro("V4", day=future, customer="C001"),                     # 5: in the future
        ro("V5", amount="-50", customer="C001"),                   # 6: negative amount
        ro("V6", amount="一百元", customer="C001"),                 # 7: not money
        ro("V7", km="3000000", customer="C001"),                   # 8: mileage out of range
        ro("V8", vin="LSVAM4187C2184841", customer="C001"),        # 9: VIN check digit
        ro("V9", plate="A12345", customer="C001"),                 # 10: plate without province
        ro("V10", mobile="021-58881234"),                          # 11: a landline cannot find a customer
        ro("V11"),                                                 # 12: no link key at all
        ro("V12", amount="1,234元", km="1.2万公里", day="2024年3月6日", customer="C001"),   # fine
        ro("V13", amount="", km="", kind="", advisor="", customer="C001"),                # fine: optional
    ]
    summary = import_repair_orders(write_csv(tmp_path / "v.csv", rows), dealer=dealer)
    assert (summary.total, summary.created, summary.rejected) == (13, 2, 11)
    reasons = report_reasons(summary.report_path)
    assert sorted(reasons, key=int) == [str(n) for n in range(2, 13)]
    assert reasons["2"].startswith("工单号:")
    assert reasons["3"].startswith("结算日期:")
    assert "结算日期:" in reasons["4"] and "2024-02-30" in reasons["4"]
    assert future in reasons["5"]
    assert reasons["6"].startswith("结算金额:") and reasons["7"].startswith("结算金额:")
    assert reasons["8"].startswith("进厂里程:")
    assert reasons["9"].startswith("车架号:") and reasons["10"].startswith("车牌号:")
    assert reasons["11"].startswith("手机:")
    assert "车架号" in reasons["12"] or "VIN" in reasons["12"]
    fine = orders(dealer)["V12"]
    assert (fine.amount, fine.mileage, fine.date) == (Decimal("1234.00"), 12000, date(2024, 3, 6))
    bare = orders(dealer)["V13"]
    assert (bare.amount, bare.mileage, bare.type, bare.advisor) == (None, None, "", "")


def test_english_headers_and_arrival_date(owners: Any, tmp_path: Path) -> None:
    dealer, people, _ = owners
    header = ["RO Number", "Arrival Date", "Service Type", "Amount", "Mileage", "Customer ID"]
    path = write_csv(tmp_path / "en.csv", [["E1", "2024/1/2", "Repair", "99.5", "100", "C003"]], header=header)
    summary = import_repair_orders(path, dealer=dealer)
    assert summary.created == 1
    order = orders(dealer)["E1"]
    assert (order.date, order.type, order.amount, order.customer_id) == \
        (date(2024, 1, 2), "Repair", Decimal("99.50"), people["number"].id)
    with pytest.raises(DomainError, match="repair-order header"):
        import_repair_orders(write_csv(tmp_path / "x.csv", [["1"]], header=["foo"]), dealer=dealer)
    with pytest.raises(DomainError, match="needs a column with the order number"):   # no date column
        import_repair_orders(write_csv(tmp_path / "y.csv", [["1", "C003"]], header=["工单号", "客户编号"]),
                             dealer=dealer)


def test_reimport_is_idempotent_and_updates_what_changed(owners: Any, tmp_path: Path) -> None:
    dealer, _, cars = owners
    rows = [ro("R1", vin=VIN_A), ro("R2", day="2024-04-01", plate="沪AD12345"), ro("R3", customer="C003")]
    import_repair_orders(write_csv(tmp_path / "a.csv", rows), dealer=dealer)
    snapshot = {k: (o.id, o.date, o.amount, o.mileage, o.vehicle_id) for k, o in orders(dealer).items()}
    car = vehicle(cars["vin"].id)
    again = import_repair_orders(write_csv(tmp_path / "a.csv", rows), dealer=dealer)
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 3, 0)
    assert {k: (o.id, o.date, o.amount, o.mileage, o.vehicle_id) for k, o in orders(dealer).items()} == snapshot
    assert vehicle(cars["vin"].id).updated_at == car.updated_at
    assert count(TimelineEntry, TimelineEntry.kind == "service") == 3

    changed = [ro("R1", vin=VIN_A, amount="2000"), ro("R2", day="2024-04-01", plate="沪AD12345", amount="")]
    third = import_repair_orders(write_csv(tmp_path / "b.csv", changed), dealer=dealer)
    assert (third.created, third.updated, third.unchanged) == (0, 1, 1)    # an empty amount erases nothing
    assert orders(dealer)["R1"].amount == Decimal("2000.00")
    assert orders(dealer)["R2"].amount == Decimal("1234.50")
    assert count(TimelineEntry, TimelineEntry.kind == "service") == 3      # only new orders add an entry


def test_vehicle_service_raised_never_lowered_and_timeline(owners: Any, tmp_path: Path) -> None:
    dealer, people, cars = owners
    newer = [ro("N1", day="2024-05-01", km="15000", vin=VIN_A), ro("N0", day="2024-02-01", km="11000", vin=VIN_A)]
    import_repair_orders(write_csv(tmp_path / "n.csv", newer), dealer=dealer)
    car = vehicle(cars["vin"].id)
    assert (car.last_service_date, car.last_service_mileage, car.mileage, car.mileage_date) == \
        (date(2024, 5, 1), 15000, 15000, date(2024, 5, 1))
    older = [ro("O1", day="2023-01-01", km="3000", vin=VIN_A)]             # an old visit, imported later
    summary = import_repair_orders(write_csv(tmp_path / "o.csv", older), dealer=dealer)
    assert summary.created == 1
    car = vehicle(cars["vin"].id)
    assert (car.last_service_date, car.last_service_mileage, car.mileage) == (date(2024, 5, 1), 15000, 15000)
    entries = db.session.scalars(sa.select(TimelineEntry).where(TimelineEntry.kind == "service")
                                 .order_by(TimelineEntry.occurred_at)).all()
    assert [(e.customer_id, e.detail["order"], e.title) for e in entries] == [
        (people["vin"].id, "O1", "Workshop visit"), (people["vin"].id, "N0", "Workshop visit"),
        (people["vin"].id, "N1", "Workshop visit")]
    assert entries[-1].occurred_at.date() == date(2024, 5, 1)
    assert entries[-1].detail["type"] == "保养" and entries[-1].detail["amount"] == "1234.50"


def test_dealer_isolation(owners: Any, tmp_path: Path) -> None:
    _ = owners
    other = make_dealer()
    summary = import_repair_orders(write_csv(tmp_path / "i.csv", [ro("X1", vin=VIN_A), ro("X2", customer="C001")]),
                                   dealer=other)
    assert (summary.created, summary.rejected) == (0, 2)                 # dealer A's customers are not found
    assert count(RepairOrder) == 0


@pytest.fixture
def config(app_ctx: Any, settings: Any, settings_dict: dict[str, Any], tmp_path: Path) -> Any:
    path = tmp_path / "cli.toml"
    path.write_text(to_toml(settings_dict), encoding="utf-8")
    yield path
    runtime.init(settings)


def test_cli_repair_orders(config: Path, tmp_path: Path) -> None:
    dealer = make_dealer(code="RO01")
    make_customer(dealer, external_id="C001")
    path = write_csv(tmp_path / "工单.csv", [ro("R1", amount="1,234.50", customer="C001"),
                                            ro("R2", amount="", customer="NOPE")], encoding="gbk")
    runner = CliRunner()
    args = ["--config", str(config), "import", "repair-orders", str(path), "--dealer", "RO01",
            "--report", str(tmp_path / "rej.csv")]
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "created:   1" in result.stdout and "rejected:  1" in result.stdout
    again = runner.invoke(main, args, catch_exceptions=False)
    assert "unchanged: 1" in again.stdout
    db.session.remove()
    jobs = db.session.scalars(sa.select(ImportJob).order_by(ImportJob.id)).all()
    assert [(j.kind, j.status) for j in jobs] == [(ImportKind.REPAIR_ORDERS, ImportStatus.DONE)] * 2
    assert all(j.claimed_by.startswith("cli:") and j.heartbeat_at for j in jobs)
