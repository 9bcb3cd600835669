"""Repair-order header map and row rule, and the customer rule's fast paths (same answers as the full rules)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from scrm.services import normalize
from scrm.services.errors import Invalid
from scrm.services.imports import customers
from scrm.services.imports.repair_rows import check_repair_columns, map_repair_headers, parse_repair_row


def test_header_map_chinese_english_and_extra() -> None:
    headers = ["维修单号", "进厂日期", "业务类型", "结算金额", "进厂里程", "服务顾问", "车架号", "车牌", "客户编号",
               "手机号码", "备注"]
    assert map_repair_headers(headers) == {
        0: "external_id", 1: "arrival_date", 2: "type", 3: "amount", 4: "mileage", 5: "advisor", 6: "vin",
        7: "plate", 8: "customer_external_id", 9: "mobile"}
    assert map_repair_headers(["RO Number", "Service Date", "Customer ID"]) == {
        0: "external_id", 1: "date", 2: "customer_external_id"}
    assert map_repair_headers(["单据号", "日期"], {"单据号": "external_id", "日期": "date"}) == {
        0: "external_id", 1: "date"}
    with pytest.raises(Invalid):
        map_repair_headers(["工单号", "维修单号"])          # one field twice
    with pytest.raises(Invalid):
        map_repair_headers(["x"], {"x": "shoe_size"})       # an unknown target
    with pytest.raises(Invalid):
        check_repair_columns({0: "external_id", 1: "vin"})  # no date column


def test_settlement_date_wins_over_arrival_date() -> None:
    columns = {"工单号": "external_id", "结算日期": "date", "进厂日期": "arrival_date",
               "客户编号": "customer_external_id"}
    row = parse_repair_row(2, {"工单号": "R1", "结算日期": "2024-03-06", "进厂日期": "2024-03-01", "客户编号": "C1"},
                           columns, today=date(2024, 6, 1))
    assert row.ok and row.customer["date"] == date(2024, 3, 6) and "arrival_date" not in row.customer
    only_arrival = parse_repair_row(3, {"工单号": "R2", "结算日期": "", "进厂日期": "2024/3/1", "客户编号": "C1"},
                                    columns, today=date(2024, 6, 1))
    assert only_arrival.ok and only_arrival.customer["date"] == date(2024, 3, 1)


def test_row_values_and_problems() -> None:
    columns = {k: k for k in ("external_id", "date", "amount", "mileage", "mobile", "vin")}
    row = parse_repair_row(2, {"external_id": 12345, "date": "2024年3月5日", "amount": "¥12,345.678",
                               "mileage": "1.5万公里", "mobile": "+86 138 1234 5678"}, columns,
                           today=date(2024, 6, 1))
    assert row.ok
    assert row.customer == {"external_id": "12345", "date": date(2024, 3, 5), "amount": Decimal("12345.68"),
                            "mileage": 15000, "mobile": "13812345678"}
    bad = parse_repair_row(3, {"external_id": "R", "date": "2024-07-01", "amount": "-1", "vin": "123"}, columns,
                           today=date(2024, 6, 1))
    assert sorted(p.column for p in bad.problems) == ["amount", "date", "vin"]


@pytest.mark.parametrize("raw", ["13812345678", "19912345678", "12812345678", "1381234567", " 13812345678"])
def test_phone_fast_path_agrees(raw: str) -> None:
    try:
        expected = normalize.phone(raw, field="mobile")
    except Invalid:
        expected = None
        with pytest.raises(Invalid):
            customers._phone("mobile", raw)
        return
    assert customers._phone("mobile", raw) == expected


@pytest.mark.parametrize("raw", ["2024-03-05", "2023-02-30", "1899-12-31", "2024-13-01", "2024/3/5"])
def test_date_fast_path_agrees(raw: str) -> None:
    try:
        expected = normalize.parse_date(raw, "birthday")
    except Invalid as exc:
        with pytest.raises(Invalid) as got:
            customers._date("birthday", raw)
        assert got.value.message == exc.message
        return
    assert customers._date("birthday", raw) == expected


@pytest.mark.parametrize("raw", ["张伟", "欧阳娜娜", "Li Na", "张\u200b伟", "123"])
def test_name_fast_path_agrees(raw: str) -> None:
    try:
        expected = normalize.person_name(raw)
    except Invalid:
        with pytest.raises(Invalid):
            customers._name("name", raw)
        return
    assert customers._name("name", raw) == expected
