"""The import rules, continued: dates, mileage, money, gender, names and the header map."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from scrm.services import normalize as n
from scrm.services.normalize import FieldError
from scrm.services.normalize_dates import DATE_OUT_OF_RANGE, NO_SUCH_DATE, NOT_A_DATE
from scrm.services.normalize_headers import SAME_FIELD_TWICE, UNKNOWN_TARGET
from tests.unit.test_normalize import fails

# --- dates --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "value"), [
    (date(2023, 5, 6), date(2023, 5, 6)),
    (datetime(2023, 5, 6, 14, 30), date(2023, 5, 6)),
    (datetime(2023, 5, 6, 23, 59, tzinfo=UTC), date(2023, 5, 6)),
    ("2023-05-06", date(2023, 5, 6)),
    ("2023/5/6", date(2023, 5, 6)),
    ("2023.5.6", date(2023, 5, 6)),
    ("2023-5-06", date(2023, 5, 6)),
    ("2023年5月6日", date(2023, 5, 6)),
    ("2023年05月06日", date(2023, 5, 6)),
    ("2023 年 5 月 6 日", date(2023, 5, 6)),
    ("2023年5月6号", date(2023, 5, 6)),
    ("2023年5月6", date(2023, 5, 6)),
    ("20230506", date(2023, 5, 6)),
    ("2023-05-06 14:30:00", date(2023, 5, 6)),
    ("2023/5/6 9:05", date(2023, 5, 6)),
    ("2023-05-06T14:30:00+08:00", date(2023, 5, 6)),
    ("２０２３－０５－０６", date(2023, 5, 6)),
    ("２０２３年５月６日", date(2023, 5, 6)),
    ("  2023/05/06\u3000", date(2023, 5, 6)),
    (45000, date(2023, 3, 15)),  # Excel serial
    (45000.75, date(2023, 3, 15)),  # serial with a time of day
    (45000.0, date(2023, 3, 15)),
    ("45000", date(2023, 3, 15)),  # a serial a CSV export wrote as text
    (25569, date(1970, 1, 1)),
    (20230506, date(2023, 5, 6)),  # a yyyymmdd number cell
    (20230506.0, date(2023, 5, 6)),
    ("1900-01-01", date(1900, 1, 1)),
    ("2100-12-31", date(2100, 12, 31)),
    ("2024-02-29", date(2024, 2, 29)),
])
def test_dates(raw: object, value: date) -> None:
    assert n.parse_date(raw, "purchase_date") == value


@pytest.mark.parametrize("raw", ["2023年2月30日", "2023-02-29", "2023-13-01", "2023-04-31", "2023/0/10", "20230230",
                                 "2023-05-00", "2100-02-29"])
def test_impossible_dates(raw: str) -> None:
    error = fails(n.parse_date, raw, NO_SUCH_DATE, field="insurance_expiry")
    assert error.field == "insurance_expiry"


@pytest.mark.parametrize("raw", ["1899-12-31", "2101-01-01", "0023-05-06", "9999-12-31", "18000101",
                                 date(1850, 1, 1), datetime(2200, 1, 1), 79999])
def test_dates_outside_1900_to_2100(raw: object) -> None:
    fails(n.parse_date, raw, DATE_OUT_OF_RANGE, field="birthday")


@pytest.mark.parametrize("raw", ["yesterday", "23/5/6", "5/6/2023", "06.05.2023", "2023-05", "2023年5月", "202356",
                                 "2023-05-06 25:00:00x", 12345, 100000, 1.5, 19000.5, True, "上周三", "12345"])
def test_not_dates(raw: object) -> None:
    fails(n.parse_date, raw, NOT_A_DATE, field="birthday")


# --- mileage ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "km"), [
    ("12345", 12345), ("12,345", 12345), ("12345km", 12345), ("12345 KM", 12345), ("12345 公里", 12345),
    ("12345千米", 12345), ("1.2万公里", 12000), ("1.2万", 12000), ("3万km", 30000), ("１２３４５", 12345),
    ("12，345公里", 12345), (12345, 12345), (12345.4, 12345), (12345.5, 12346), ("0", 0), (0, 0),
    ("2,000,000", 2_000_000), ("200万", 2_000_000), ("  8 888 ", 8888), ("0.5万公里", 5000),
])
def test_mileage(raw: object, km: int) -> None:
    assert n.mileage(raw) == km


@pytest.mark.parametrize("raw", ["-1", -5, "2000001", 2_000_001, "201万", "9999999km", 1e300, -1e300])
def test_mileage_out_of_range(raw: object) -> None:
    fails(n.mileage, raw, n.MILEAGE_RANGE)


@pytest.mark.parametrize("raw", ["abc", "12345英里", "约1万", "1.2.3", "1,2万公里x", "公里", "万", float("nan"),
                                 float("inf"), True, "12345 miles", "1e300"])
def test_not_a_mileage(raw: object) -> None:
    error = fails(n.mileage, raw, n.NOT_MILEAGE, field="last_service_mileage")
    assert error.field == "last_service_mileage"


# --- money --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "amount"), [
    ("¥1,234.50", "1234.50"), ("￥1,234.50", "1234.50"), ("1234.5元", "1234.50"), ("1234", "1234.00"),
    ("RMB 88", "88.00"), ("CNY 88.8", "88.80"), ("人民币100元", "100.00"), ("1.5万元", "15000.00"),
    ("0.005", "0.01"), ("0.004", "0.00"), (1234.5, "1234.50"), (0.1, "0.10"), (99, "99.00"),
    ("１２３４．５元", "1234.50"), ("10,000,000", "10000000.00"), (" 0 ", "0.00"), (-0.001, "0.00"),
])
def test_money(raw: object, amount: str) -> None:
    value = n.money(raw)
    assert value == Decimal(amount) and str(value) == amount      # never "-0.00"


@pytest.mark.parametrize("raw", ["-1", -0.5, "10000000.01", "1001万", 10_000_001, 1e300, -1e300])
def test_money_out_of_range(raw: object) -> None:
    fails(n.money, raw, n.MONEY_RANGE)


@pytest.mark.parametrize("raw", ["abc", "1,2,3.4.5", "¥", "一千元", "$", float("nan"), False, "12.5%", "1e300"])
def test_not_money(raw: object) -> None:
    fails(n.money, raw, n.NOT_MONEY)


# --- gender and names ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "value"), [
    ("男", "male"), (" 男 ", "male"), ("男性", "male"), ("先生", "male"), ("M", "male"), ("m", "male"),
    ("Male", "male"), ("MALE", "male"), ("Ｍ", "male"), ("女", "female"), ("女士", "female"), ("女性", "female"),
    ("小姐", "female"), ("F", "female"), ("f", "female"), ("Female", "female"), ("ｆｅｍａｌｅ", "female"),
    ("未知", None), ("保密", None), ("Unknown", None),
])
def test_gender(raw: str, value: str | None) -> None:
    assert n.gender(raw) == value


@pytest.mark.parametrize("raw", ["x", "男女", "1", "boy", "男 士 ", 1, True])
def test_not_a_gender(raw: object) -> None:
    fails(n.gender, raw, n.NOT_GENDER)


@pytest.mark.parametrize(("raw", "value"), [
    ("张三", "张三"), ("  张三 ", "张三"), ("Li  Ming", "Li Ming"), ("Li\tMing", "Li Ming"), ("张 三", "张 三"),
    ("阿依古丽·买买提", "阿依古丽·买买提"), ("Ｊｏｈｎ　Ｓｍｉｔｈ", "John Smith"), ("王女士", "王女士"),
    ("李", "李"), ("张三2", "张三2"), ("O'Brien", "O'Brien"), ("\ufeff赵六", "赵六"), ("张" * 64, "张" * 64),
])
def test_person_names(raw: str, value: str) -> None:
    assert n.person_name(raw) == value


@pytest.mark.parametrize("raw", ["12345", 13812345678, "138-1234-5678", "...", "-", "？？"])
def test_name_needs_letters(raw: object) -> None:
    fails(n.person_name, raw, n.NAME_NO_LETTERS)


@pytest.mark.parametrize("raw", ["张\x00三", "张\x07三", "张\u202e三", "张\ue000三"])
def test_name_without_control_characters(raw: str) -> None:
    fails(n.person_name, raw, n.NAME_CONTROL_CHARS)


def test_name_at_most_64_characters() -> None:
    error = fails(n.person_name, "张" * 65, n.NAME_LENGTH)
    assert error.params == {"max": 64, "length": 65}


# --- header map ---------------------------------------------------------------------------------------

def test_default_headers_cover_every_field_in_chinese_and_english() -> None:
    assert set(n.HEADERS.values()) == set(n.FIELDS)
    assert set(n.FIELD_LABELS) >= set(n.FIELDS)
    for synonym, field in {"姓名": "name", "车主": "name", "Customer": "name", "手机号码": "mobile", "电话": "mobile",
                           "Phone": "mobile", "性别": "gender", "出生日期": "birthday", "所在城市": "city",
                           "客户来源": "source", "客户阶段": "stage", "车辆识别代号": "vin", "车牌号码": "plate",
                           "品牌": "brand", "车系": "model", "年款": "model_year", "开票日期": "purchase_date",
                           "当前里程": "mileage", "读数日期": "mileage_date", "上次保养": "last_service_date",
                           "上次保养里程": "last_service_mileage", "交强险到期": "insurance_expiry",
                           "保修到期": "warranty_expiry", "DMS编号": "external_id", "客户ID": "external_id"}.items():
        assert n.HEADERS[synonym] == field


def test_map_headers_ignores_case_spaces_markers_and_units() -> None:
    headers = ["客户编号", " 姓名 ", "手机号码*", "Vin", "车牌 号", "行驶里程(公里)", "备注", None, "",
               "PURCHASE_DATE", "Last Service Date", "\ufeff性别", "保险到期（交强险）"]
    assert n.map_headers(headers) == {0: "external_id", 1: "name", 2: "mobile", 3: "vin", 4: "plate", 5: "mileage",
                                      9: "purchase_date", 10: "last_service_date", 11: "gender",
                                      12: "insurance_expiry"}


def test_map_headers_refuses_two_columns_for_one_field() -> None:
    with pytest.raises(FieldError) as caught:
        n.map_headers(["姓名", "手机", "电话"])
    error = caught.value
    assert (error.message, error.field) == (SAME_FIELD_TWICE, "mobile")
    assert error.params == {"first": "手机", "first_column": 2, "second": "电话", "second_column": 3}


def test_extra_header_map_adds_overrides_and_skips() -> None:
    extra = {"会员卡号": "external_id", "电话": "", "Owner": "name", "联系人": "name"}
    assert n.map_headers(["会员卡号", "手机", "电话", "联系人"], extra) == {0: "external_id", 1: "mobile", 3: "name"}
    assert n.map_headers(["车主", "姓名"], {"车主": ""}) == {1: "name"}


def test_extra_header_map_must_name_known_fields() -> None:
    with pytest.raises(FieldError) as caught:
        n.map_headers(["姓名"], {"会员卡号": "member_no"})
    assert caught.value.message == UNKNOWN_TARGET
    assert caught.value.params == {"header": "会员卡号", "target": "member_no"}
