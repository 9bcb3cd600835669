"""Customer file import: CSV (UTF-8, BOM, GBK) and XLSX, the rejected-rows report, idempotent re-import,
updates, dealer isolation, and `scrm import customers` through click's CliRunner."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from scrm import db, runtime
from scrm.cli import main
from scrm.models import Customer, Dealer, ImportJob, ImportStatus, Stage, TimelineEntry, Vehicle
from scrm.services.errors import DomainError
from scrm.services.imports import import_customers
from tests.factories import make_dealer
from tests.integration.outbox_helpers import to_toml

pytestmark = pytest.mark.integration
VIN_A, VIN_B, VIN_C = "LSVAM4186C2184841", "LFV2A21K8A3000001", "LGBH52E00EY000123"
HEADER = ["客户编号", "姓名", "手机号码", "性别", "生日", "车架号", "车牌号", "车型", "购车日期", "行驶里程", "备注"]
GOOD = [
    ["C001", "张伟", "+86 138-1234-5678", "男", "1985/3/7", VIN_A, "沪A·12345", "帕萨特", "2021年5月6日", "12,345公里",
     "老客户"],
    ["C002", "李娜", "13987654321", "女", "", VIN_B, "沪AD12345", "ID.4", "2023-01-15", "1.2万", ""],
    ["", "王芳", "０２１-５８８８１２３４", "", "", "", "", "", "", "", "只有座机"],
    ["C004", "", "15900001111", "", "", "", "", "", "", "", "只有手机"],
]
BAD = [
    ["C005", "赵强", "12345", "男", "", "", "", "", "", "", "手机错"],                      # line 6
    ["C006", "孙丽", "13700001111", "", "2023年2月30日", "LSVAM4187C2184841", "", "", "", "", "两处错"],  # line 7
    ["C007", "", "", "", "", "", "", "", "", "", "没有姓名手机"],                            # line 8
    ["C008", "周杰", "13600002222", "", "", "", "", "朗逸", "", "5000", "车辆无标识"],          # line 9
]


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def snapshot(dealer_id: int) -> list[tuple[Any, ...]]:
    """Every stored value of the dealer's customers and vehicles, timestamps included."""
    db.session.remove()
    customers = db.session.execute(sa.select(Customer.__table__).where(Customer.dealer_id == dealer_id)
                                   .order_by(Customer.id)).all()
    vehicles = db.session.execute(sa.select(Vehicle.__table__).where(Vehicle.dealer_id == dealer_id)
                                  .order_by(Vehicle.id)).all()
    db.session.remove()
    return [tuple(r) for r in [*customers, *vehicles]]


def customer(dealer: Dealer, **where: Any) -> Customer:
    db.session.remove()
    return db.session.scalars(sa.select(Customer).filter_by(dealer_id=dealer.id, **where)).one()


def read_report(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel needs the BOM to read UTF-8
    return list(csv.reader(raw.decode("utf-8-sig").splitlines()))


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk"])
def test_csv_import_counts_values_and_report(app_ctx: Any, tmp_path: Path, encoding: str) -> None:
    dealer = make_dealer()
    path = write_csv(tmp_path / "客户.csv", GOOD + BAD, encoding)
    summary = import_customers(path, dealer=dealer)
    assert (summary.total, summary.created, summary.updated, summary.unchanged, summary.rejected) == (8, 4, 0, 0, 4)

    zhang = customer(dealer, external_id="C001")
    assert (zhang.name, zhang.mobile, zhang.gender, zhang.birthday, zhang.stage) == \
        ("张伟", "13812345678", "male", date(1985, 3, 7), Stage.LEAD)
    wang = customer(dealer, name="王芳")
    assert (wang.mobile, wang.landline) == (None, "021-58881234")
    car = db.session.scalars(sa.select(Vehicle).where(Vehicle.vin == VIN_A)).one()
    assert (car.customer_id, car.plate, car.model, car.purchase_date, car.mileage) == \
        (zhang.id, "沪A12345", "帕萨特", date(2021, 5, 6), 12345)
    nev = db.session.scalars(sa.select(Vehicle).where(Vehicle.vin == VIN_B)).one()
    assert (nev.plate, nev.mileage) == ("沪AD12345", 12000)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TimelineEntry)
                             .where(TimelineEntry.kind == "import.created")) == 4

    report = read_report(summary.report_path or Path("missing"))
    assert report[0] == ["行号", "原因", *HEADER]
    by_line = {row[0]: row for row in report[1:]}
    assert sorted(by_line) == ["6", "7", "8", "9"]
    assert by_line["6"][2:] == BAD[0]                      # the original cells, untouched
    assert by_line["6"][1].startswith("手机号码:")           # named by the file's own header
    reason7 = by_line["7"][1]
    assert "生日:" in reason7 and "车架号:" in reason7       # every problem of the row, not only the first
    assert "至少需要客户姓名或手机号" in by_line["8"][1]
    assert "车型" in by_line["9"][1] and "车牌" in by_line["9"][1]
    job = db.session.get_one(ImportJob, summary.job_id)
    assert (job.status, job.total, job.rejected, job.report_path) == (ImportStatus.DONE, 8, 4, str(summary.report_path))


def test_xlsx_with_excel_types(app_ctx: Any, tmp_path: Path) -> None:
    from openpyxl import Workbook

    dealer = make_dealer()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["姓名", "手机", "VIN", "车牌", "购车日期", "里程", "上次保养日期", "客户阶段"])
    sheet.append(["陈静", 13812345678, VIN_C, "粤B12345", date(2020, 8, 1), 45678.0, 45000, "车主"])
    sheet.append(["刘洋", "138", "", "", "", "", "", ""])
    sheet.append([None] * 8)                                 # a blank row is skipped, not reported
    sheet.append(["黄磊", 13600003333, "", "", "", "", "", "潜水"])
    sheet.append(["周敏", 13912345678.0, "", "", "", "", "", ""])   # a mobile stored as a float cell
    path = tmp_path / "owners.xlsx"
    book.save(path)

    summary = import_customers(path, dealer=dealer, report_path=tmp_path / "out" / "bad.csv")
    assert (summary.total, summary.created, summary.rejected) == (4, 2, 2)
    assert customer(dealer, mobile="13912345678").name == "周敏"
    chen = customer(dealer, mobile="13812345678")
    assert chen.stage == Stage.OWNER
    car = db.session.scalars(sa.select(Vehicle).where(Vehicle.customer_id == chen.id)).one()
    assert (car.vin, car.plate, car.purchase_date, car.mileage, car.last_service_date) == \
        (VIN_C, "粤B12345", date(2020, 8, 1), 45678, date(2023, 3, 15))   # Excel serial 45000
    lines = [row[0] for row in read_report(tmp_path / "out" / "bad.csv")[1:]]
    assert lines == ["3", "5"]                               # spreadsheet row numbers, blank row counted


def test_same_file_twice_changes_nothing(app_ctx: Any, tmp_path: Path) -> None:
    dealer = make_dealer()
    path = write_csv(tmp_path / "a.csv", GOOD + BAD)
    import_customers(path, dealer=dealer)
    before = snapshot(dealer.id)
    again = import_customers(path, dealer=dealer)
    assert (again.total, again.created, again.updated, again.unchanged, again.rejected) == (8, 0, 0, 4, 4)
    assert snapshot(dealer.id) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TimelineEntry)) == 4


def test_updated_file_updates_only_what_it_names(app_ctx: Any, tmp_path: Path) -> None:
    dealer = make_dealer()
    import_customers(write_csv(tmp_path / "a.csv", GOOD), dealer=dealer)
    li_before = customer(dealer, external_id="C002")
    changed = [
        # C001: a new mobile and mileage; empty cells never erase what is stored
        ["C001", "", "13811112222", "", "", VIN_A, "", "", "", "20000", ""],
        # C002 by mobile alone, now with a city-less row that changes nothing
        ["", "李娜", "13987654321", "女", "", "", "", "", "", "", ""],
        # a second car for C004, found by customer number
        ["C004", "", "", "", "", VIN_C, "", "途观L", "", "", ""],
    ]
    summary = import_customers(write_csv(tmp_path / "b.csv", changed), dealer=dealer)
    assert (summary.created, summary.updated, summary.unchanged, summary.rejected) == (0, 2, 1, 0)
    zhang = customer(dealer, external_id="C001")
    assert (zhang.name, zhang.mobile, zhang.birthday) == ("张伟", "13811112222", date(1985, 3, 7))
    car = db.session.scalars(sa.select(Vehicle).where(Vehicle.vin == VIN_A)).one()
    assert (car.mileage, car.model, car.plate) == (20000, "帕萨特", "沪A12345")
    assert customer(dealer, external_id="C002").updated_at == li_before.updated_at
    c004 = customer(dealer, external_id="C004")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Vehicle)
                             .where(Vehicle.customer_id == c004.id)) == 1
    updates = db.session.scalars(sa.select(TimelineEntry).where(TimelineEntry.kind == "import.updated")).all()
    assert sorted(e.customer_id for e in updates) == sorted([zhang.id, c004.id])
    assert {"mobile", "vehicle.mileage"} <= set(next(e for e in updates if e.customer_id == zhang.id)
                                                  .detail["fields"])


def test_conflicting_identity_is_rejected_with_reason(app_ctx: Any, tmp_path: Path) -> None:
    dealer = make_dealer()
    import_customers(write_csv(tmp_path / "a.csv", GOOD), dealer=dealer)
    before = snapshot(dealer.id)
    clash = [["C999", "冒名", "13812345678", "", "", "", "", "", "", "", ""],     # C001's mobile, another number
             ["C004", "", "", "", "", VIN_A, "", "", "", "", ""]]               # C001's car under C004
    summary = import_customers(write_csv(tmp_path / "b.csv", clash), dealer=dealer)
    assert (summary.rejected, summary.created, summary.updated) == (2, 0, 0)
    assert snapshot(dealer.id) == before
    reasons = [row[1] for row in read_report(summary.report_path or Path("missing"))[1:]]
    assert "手机号码:" in reasons[0] and "C001" in reasons[0]
    assert "车架号:" in reasons[1] and VIN_A in reasons[1]


def test_dealer_isolation(app_ctx: Any, tmp_path: Path) -> None:
    dealer_a, dealer_b = make_dealer(), make_dealer()
    import_customers(write_csv(tmp_path / "b.csv", GOOD), dealer=dealer_b)
    b_before = snapshot(dealer_b.id)
    summary = import_customers(write_csv(tmp_path / "a.csv", GOOD), dealer=dealer_a)
    assert (summary.created, summary.rejected) == (4, 0)      # same mobiles and VINs, other dealer: new rows
    assert snapshot(dealer_b.id) == b_before
    assert customer(dealer_a, external_id="C001").id != customer(dealer_b, external_id="C001").id


def test_whole_file_failures(app_ctx: Any, tmp_path: Path) -> None:
    dealer = make_dealer()
    unknown = tmp_path / "unknown.csv"
    unknown.write_text("foo,bar\n1,2\n", encoding="utf-8")
    with pytest.raises(DomainError, match="No column"):
        import_customers(unknown, dealer=dealer)
    twice = tmp_path / "twice.csv"
    twice.write_text("手机,电话\n13812345678,13912345678\n", encoding="utf-8")
    with pytest.raises(DomainError):
        import_customers(twice, dealer=dealer)
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81\x30\xff" * 10)
    with pytest.raises(DomainError, match="neither UTF-8 nor GBK"):
        import_customers(binary, dealer=dealer)
    jobs = db.session.scalars(sa.select(ImportJob).order_by(ImportJob.id)).all()
    assert [j.status for j in jobs] == [ImportStatus.FAILED] * 3 and all(j.error for j in jobs)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0


@pytest.fixture
def config(app_ctx: Any, settings: Any, settings_dict: dict[str, Any], tmp_path: Path) -> Any:
    """The test settings as a TOML file (the CLI builds its own app from it), restored afterwards."""
    path = tmp_path / "cli.toml"
    path.write_text(to_toml(settings_dict), encoding="utf-8")
    yield path
    runtime.init(settings)


def test_cli_import_summary_report_and_exit_codes(config: Path, tmp_path: Path) -> None:
    dealer = make_dealer(code="SH001")
    path = write_csv(tmp_path / "cli.csv", GOOD + BAD, "gbk")
    mapping = tmp_path / "map.toml"
    mapping.write_text('[headers]\n"备注" = ""\n', encoding="utf-8")
    runner = CliRunner()
    args = ["--config", str(config), "import", "customers", str(path), "--dealer", "SH001",
            "--account", "demo", "--report", str(tmp_path / "rej.csv"), "--header-map", str(mapping)]
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "created:   4" in result.stdout and "rejected:  4" in result.stdout
    assert str(tmp_path / "rej.csv") in result.stdout
    assert "cli.csv" in result.stderr                      # the progress bar goes to stderr
    assert len(read_report(tmp_path / "rej.csv")) == 5
    assert customer(dealer, external_id="C001").name == "张伟"

    again = runner.invoke(main, args, catch_exceptions=False)
    assert "unchanged: 4" in again.stdout and "created:   0" in again.stdout

    missing = runner.invoke(main, ["--config", str(config), "import", "customers", str(path), "--dealer", "NOPE"])
    assert missing.exit_code == 1 and "no dealer with the code NOPE" in missing.stderr
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    failed = runner.invoke(main, ["--config", str(config), "import", "customers", str(empty), "--dealer", "SH001"])
    assert failed.exit_code == 1 and "no header row" in failed.stderr


def test_cli_import_with_a_config_that_does_not_name_the_account(app_ctx: Any, settings: Any,
                                                                 settings_dict: dict[str, Any],
                                                                 tmp_path: Path) -> None:
    # A data-only node's config may list no official account: the report then speaks the default language.
    dealer = make_dealer(code="SH009")
    data = {**settings_dict, "app": {**settings_dict["app"], "default_language": "en"}, "accounts": {}}
    config = tmp_path / "no-accounts.toml"
    config.write_text(to_toml(data), encoding="utf-8")
    path = write_csv(tmp_path / "cli.csv", GOOD + BAD)
    try:
        result = CliRunner().invoke(main, ["--config", str(config), "import", "customers", str(path), "--dealer",
                                           "SH009", "--report", str(tmp_path / "rej.csv")], catch_exceptions=False)
    finally:
        runtime.init(settings)
    assert result.exit_code == 0, result.output
    assert "created:   4" in result.stdout and "rejected:  4" in result.stdout
    assert read_report(tmp_path / "rej.csv")[0][:2] == ["Line number in the file", "Why the row was rejected"]
    assert customer(dealer, external_id="C001").name == "张伟"
