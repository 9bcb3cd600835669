"""The fast paths for clean cells (VIN, plate, mileage, free text, dates) and the caches of repeated values
give exactly what the full rules give, and a bad value is refused every time it appears, not only once."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from scrm.services import normalize as n
from scrm.services.imports.customers import ParsedRow, parse_row
from scrm.services.imports.readers import Cell
from scrm.services.normalize import FieldError
from scrm.services.normalize_dates import NO_SUCH_DATE

VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"


def vins(count: int) -> list[str]:
    """Random VINs, half of them with a correct check digit."""
    rng = random.Random(3)
    out = []
    for i in range(count):
        body = "".join(rng.choice(VIN_CHARS) for _ in range(17))
        out.append(body[:8] + n.vin_check_digit(body) + body[9:] if i % 2 else body)
    return out


def outcome(rule: object, raw: object) -> object:
    """What a rule returns, or the msgid and params it raises (but the offending value as it was typed)."""
    try:
        return rule(raw)  # type: ignore[operator]
    except FieldError as exc:
        return exc.message, {k: v for k, v in exc.params.items() if k != "value"}


def problems(row: ParsedRow) -> list[tuple[str, str, dict[str, object]]]:
    return [(p.column, p.message, {k: v for k, v in p.params.items() if k != "value"}) for p in row.problems]


def test_check_digit_matches_the_iso_3779_computation() -> None:
    weights = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
    values = dict(zip("ABCDEFGHJKLMNPRSTUVWXYZ", (1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9),
                      strict=True))
    for vin in vins(400):
        total = sum(w * (int(c) if c.isdigit() else values[c]) for w, c in zip(weights, vin, strict=True))
        assert n.vin_check_digit(vin) == ("X" if total % 11 == 10 else str(total % 11))
    with pytest.raises(ValueError):
        n.vin_check_digit("LSV123")


def test_vin_fast_path_equals_the_full_rule() -> None:
    for vin in vins(400):
        # A padded or lower-case cell takes the full rule; both must agree, value or reason.
        assert outcome(n.vin, vin) == outcome(n.vin, f" {vin.lower()} ")
    assert n.vin("LSVAM4186C2184841") == "LSVAM4186C2184841"
    with pytest.raises(FieldError) as refused:
        n.vin("LSVAM4187C2184841")
    assert (refused.value.message, refused.value.params) == (n.VIN_CHECK_DIGIT, {
        "value": "LSVAM4187C2184841", "expected": "6", "actual": "7"})


@pytest.mark.parametrize("raw", ["沪A12345", "沪AD12345", "粤B12345D", "京A1234学", "沪AF1234", "沪A1234", "沪I12345",
                                 "沪a12345", "AA12345", "沪A123456"])
def test_plate_fast_path_equals_the_full_rule(raw: str) -> None:
    assert outcome(n.plate, raw) == outcome(n.plate, f" {raw} ".replace(raw[:1], raw[:1] + " ", 1))


@pytest.mark.parametrize("raw", ["0", "7", "12345", "12,345", "1,234,567", "2,000,000", "2,000,001", "9999999",
                                 "007", "12,34", "1,2345", ",123"])
def test_mileage_fast_path_equals_the_full_rule(raw: str) -> None:
    assert outcome(n.mileage, raw) == outcome(n.mileage, f"{raw} km")


@pytest.mark.parametrize(("fld", "raw"), [
    ("city", "上海"), ("model", "ID.4 CROZZ"), ("brand", "Volkswagen"), ("external_id", "C-0001/2"),
    ("model", "途观L  Pro"), ("city", "ｓｈａｎｇｈａｉ"), ("city", "上海" * 26), ("source", "a\x07b"),
    ("external_id", "K" * 65), ("stage", "车主"), ("stage", "VIP"), ("model_year", "2023款"),
    ("gender", "男"), ("gender", "M"), ("gender", "x"),
])
def test_repeated_values_and_plain_text_as_the_full_rules(fld: str, raw: str) -> None:
    header = {"city": "城市", "model": "车型", "brand": "品牌", "external_id": "客户编号", "source": "来源",
              "stage": "阶段", "model_year": "年款", "gender": "性别"}[fld]
    columns = {"姓名": "name", header: fld}
    for _ in range(2):  # the second time from the cache: the same value, or the same problem again
        fast = parse_row(2, {"姓名": "张伟", header: raw}, columns)
        full = parse_row(2, {"姓名": "张伟", header: f" {raw} "}, columns)  # padded: the full rule
        assert (fast.customer, fast.vehicle, problems(fast)) == (full.customer, full.vehicle, problems(full))


def test_text_dates_as_the_full_rule_every_time() -> None:
    columns = {"姓名": "name", "生日": "birthday", "购车日期": "purchase_date", "车牌号": "plate"}
    day = date(1990, 1, 1)
    for i in range(0, 4000, 37):
        d = day + timedelta(days=i)
        for text in (f"{d.year}/{d.month}/{d.day}", f"{d.year}年{d.month}月{d.day}日", d.strftime("%Y%m%d")):
            row = parse_row(2, {"姓名": "张伟", "生日": text, "购车日期": text, "车牌号": "沪A12345"}, columns)
            assert (row.customer["birthday"], row.vehicle and row.vehicle["purchase_date"]) == (d, d)
    for _ in range(3):  # a refused date is refused each time, with its own column's name
        cells = {"姓名": "张伟", "生日": "2023/2/30", "购车日期": "2023/2/30", "车牌号": "沪A12345"}
        row = parse_row(5, dict(cells), columns)
        assert [(p.column, p.message) for p in row.problems] == [("生日", NO_SUCH_DATE), ("购车日期", NO_SUCH_DATE)]


def test_each_file_gets_its_own_column_plan() -> None:
    first = {"姓名": "name", "手机": "mobile"}
    second = {"姓名": "city", "电话": "mobile"}
    cells: dict[str, Cell] = {"姓名": "上海", "手机": "13812345678", "电话": "13900001111"}
    assert parse_row(2, cells, first).customer == {"name": "上海", "mobile": "13812345678"}
    assert parse_row(2, cells, second).customer == {"city": "上海", "mobile": "13900001111"}
    first["手机"] = "landline"  # a changed map is noticed even though it is the same object
    assert parse_row(2, cells, first).customer == {"name": "上海", "landline": "13812345678"}


def test_a_parsed_row_survives_the_trip_from_the_parsing_process() -> None:
    import pickle

    columns = {"姓名": "name", "手机": "mobile", "车架号": "vin", "购车日期": "purchase_date", "性别": "gender"}
    good = parse_row(7, {"姓名": "张伟", "手机": "13800138000", "车架号": "LSVAM4186C2184841",
                         "购车日期": "2021年3月4日", "性别": "男"}, columns)
    bad = parse_row(8, {"姓名": "", "手机": "12345", "车架号": "", "购车日期": "", "性别": ""}, columns)
    for row in (good, bad):
        back = pickle.loads(pickle.dumps(row))  # noqa: S301 (our own bytes, in memory)
        assert isinstance(back, ParsedRow) and back == row and back.ok == row.ok
    assert good.vehicle == {"vin": "LSVAM4186C2184841", "purchase_date": date(2021, 3, 4)} and not bad.ok
