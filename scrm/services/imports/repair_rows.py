"""Validate one row of a repair-order file (or one API item): the order's own values and its link keys.

A repair order names its customer indirectly: by VIN, plate, the customer's number in the dealer system,
or mobile. Which one finds the customer is decided by `repairs.apply_repairs`; here every value is only
checked and normalised, and each problem named after the file's own column header.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from scrm.services import normalize
from scrm.services.errors import Invalid
from scrm.services.imports.customers import ParsedRow, Problem
from scrm.services.imports.readers import Cell
from scrm.services.normalize_base import N_, FieldError, shown
from scrm.services.normalize_headers import SAME_FIELD_TWICE, UNKNOWN_TARGET, header_key

FIELDS = ("external_id", "date", "arrival_date", "type", "amount", "mileage", "advisor", "vin", "plate",
          "customer_external_id", "mobile")
LINK_FIELDS = ("vin", "plate", "customer_external_id", "mobile")
TEXT_LIMITS = {"external_id": 64, "type": 50, "advisor": 64, "customer_external_id": 64}
NO_ORDER_NUMBER = N_("A repair order needs its order number.")
NO_ORDER_DATE = N_("A repair order needs its date (settlement, repair or arrival date).")
NO_LINK = N_("A repair order needs a VIN, a plate, a customer number or a mobile number to find its customer.")
FUTURE_DATE = N_("The date %(value)s is in the future.")
MISSING_COLUMNS = N_("A repair-order file needs a column with the order number (工单号) and one with its date "
                     "(结算日期, 维修日期 or 进厂日期).")
NOT_A_MOBILE = N_("%(value)s is a landline; only a mobile number can find the customer.")

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "external_id": ("工单号", "维修单号", "工单编号", "维修工单号", "委托书号", "Order No", "Order Number", "RO Number",
                    "Repair Order", "Repair Order No"),
    "date": ("结算日期", "维修日期", "完工日期", "工单日期", "Date", "Service Date", "Settlement Date"),
    "arrival_date": ("进厂日期", "进店日期", "Arrival Date"),
    "type": ("维修类型", "业务类型", "工单类型", "服务类型", "Type", "Service Type"),
    "amount": ("金额", "结算金额", "工单金额", "总金额", "实收金额", "Amount", "Total"),
    "mileage": ("里程", "进厂里程", "行驶里程", "Mileage", "Odometer"),
    "advisor": ("服务顾问", "接待顾问", "顾问", "Advisor", "Service Advisor"),
    "vin": ("VIN", "车架号", "车辆识别代号", "VIN码"),
    "plate": ("车牌", "车牌号", "车牌号码", "Plate", "Licence Plate", "License Plate"),
    "customer_external_id": ("客户编号", "客户ID", "DMS编号", "Customer ID", "Customer No"),
    "mobile": ("手机", "手机号", "手机号码", "联系电话", "电话", "Mobile", "Phone"),
}
_DEFAULT_KEYS = {header_key(name): fld for fld, names in _SYNONYMS.items() for name in (fld, *names)}


def map_repair_headers(headers: Sequence[str | None], extra: Mapping[str, str] | None = None) -> dict[int, str]:
    """Column index → repair-order field; `extra` (header → field, "" to skip) wins; a field twice is an error."""
    keys = dict(_DEFAULT_KEYS)
    for name, target in (extra or {}).items():
        target = target.strip()
        if target and target not in FIELDS:
            raise FieldError("header_map", UNKNOWN_TARGET, header=shown(name), target=shown(target))
        keys[header_key(name)] = target
    mapped: dict[int, str] = {}
    first_column: dict[str, int] = {}
    for index, header in enumerate(headers):
        fld = keys.get(header_key(header), "") if header is not None else ""
        if not fld:
            continue
        if fld in first_column:
            first = first_column[fld]
            raise FieldError(fld, SAME_FIELD_TWICE, first=shown(headers[first]), first_column=first + 1,
                             second=shown(header), second_column=index + 1)
        first_column[fld] = index
        mapped[index] = fld
    return mapped


def check_repair_columns(mapped: dict[int, str]) -> None:
    """A repair-order file must have an order-number and a date column (else every row would be refused)."""
    fields = set(mapped.values())
    if "external_id" not in fields or not fields & {"date", "arrival_date"}:
        raise FieldError("", MISSING_COLUMNS)


def parse_repair_row(line: int, cells: dict[str, Cell], columns: dict[str, str],
                     today: date | None = None) -> ParsedRow:
    """Validate one repair-order row; the values land in `row.customer` (the order's fields, by name)."""
    row = ParsedRow(line, cells)
    values: dict[str, Any] = {}
    for header, fld in columns.items():
        try:
            value = _RULES.get(fld, _text)(fld, cells.get(header))
        except Invalid as exc:
            row.problems.append(Problem(header, exc.message, dict(exc.params)))
            continue
        if value is not None:
            values[fld] = value
    arrival = values.pop("arrival_date", None)
    values.setdefault("date", arrival)
    if values["date"] is None:
        values.pop("date")
    limit = (today or date.today()) + timedelta(days=1)  # a day of slack for time zones
    if values.get("date") is not None and values["date"] > limit:
        row.problems.append(Problem(_header(columns, "date", "arrival_date"), FUTURE_DATE,
                                    {"value": values["date"].isoformat()}))
    if "external_id" not in values and not _failed(row, columns, "external_id"):
        row.problems.append(Problem(_header(columns, "external_id") or "external_id", NO_ORDER_NUMBER))
    if "date" not in values and not _failed(row, columns, "date", "arrival_date"):
        row.problems.append(Problem(_header(columns, "date", "arrival_date") or "date", NO_ORDER_DATE))
    if not any(values.get(k) for k in LINK_FIELDS) and not _failed(row, columns, *LINK_FIELDS):
        row.problems.append(Problem("", NO_LINK))
    row.customer = values
    return row


def _header(columns: dict[str, str], *fields: str) -> str:
    """The file's header of the first of `fields` it has ("" when none: the problem is about the row)."""
    for fld in fields:
        for header, name in columns.items():
            if name == fld:
                return header
    return ""


def _failed(row: ParsedRow, columns: dict[str, str], *fields: str) -> bool:
    """True when a problem was already reported for one of `fields` (no second, vaguer one)."""
    headers = {h for h, f in columns.items() if f in fields}
    return any(p.column in headers for p in row.problems)


def _text(fld: str, raw: Cell) -> str | None:
    """Free text: folded, trimmed, inner spaces collapsed, length-checked."""
    if raw is None:
        return None
    text = " ".join(unicodedata.normalize("NFKC", str(raw)).split())
    if not text:
        return None
    if any(unicodedata.category(ch) == "Cc" for ch in text):
        raise FieldError(fld, "This text contains control characters.")
    limit = TEXT_LIMITS.get(fld, 100)
    if len(text) > limit:
        raise FieldError(fld, "This text is too long: %(length)d characters, at most %(max)d.",
                         length=len(text), max=limit)
    return text


def _mobile(fld: str, raw: Cell) -> str | None:
    found = normalize.phone(raw, field=fld)
    if found is None:
        return None
    if found.kind != "mobile":
        raise FieldError(fld, NOT_A_MOBILE, value=shown(raw))
    return found.value


_RULES: dict[str, Callable[[str, Cell], Any]] = {
    "external_id": lambda f, raw: _text(f, str(raw) if isinstance(raw, int) else raw),
    "customer_external_id": lambda f, raw: _text(f, str(raw) if isinstance(raw, int) else raw),
    "date": lambda f, raw: normalize.parse_date(raw, f),
    "arrival_date": lambda f, raw: normalize.parse_date(raw, f),
    "amount": lambda f, raw: normalize.money(raw, field=f),
    "mileage": lambda f, raw: normalize.mileage(raw, field=f),
    "vin": lambda f, raw: normalize.vin(raw, field=f),
    "plate": lambda f, raw: normalize.plate(raw, field=f),
    "mobile": _mobile,
}
