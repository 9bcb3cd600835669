"""Validate one row of a customer file into customer and vehicle values, collecting every problem.

The rules for each field live in `scrm.services.normalize`; this module knows which fields belong to
the customer and which to the vehicle, which are required, and turns each `FieldError` into a
`Problem` named after the file's own column header (so the report speaks the dealer's words).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from scrm.models import Stage
from scrm.services import normalize
from scrm.services.errors import Invalid
from scrm.services.imports.readers import Cell
from scrm.services.normalize_dates import FIRST_YEAR, LAST_YEAR

CUSTOMER_FIELDS = ("external_id", "name", "mobile", "landline", "gender", "birthday", "city", "source", "stage")
VEHICLE_FIELDS = ("vin", "plate", "brand", "model", "model_year", "purchase_date", "mileage", "mileage_date",
                  "last_service_date", "last_service_mileage", "insurance_expiry", "warranty_expiry")
DATE_FIELDS = ("birthday", "purchase_date", "mileage_date", "last_service_date", "insurance_expiry",
               "warranty_expiry")
TEXT_LIMITS = {"external_id": 64, "city": 50, "source": 50, "brand": 50, "model": 100}
STAGES = {
    "lead": Stage.LEAD, "线索": Stage.LEAD, "潜在客户": Stage.LEAD,
    "prospect": Stage.PROSPECT, "潜客": Stage.PROSPECT, "意向": Stage.PROSPECT, "意向客户": Stage.PROSPECT,
    "owner": Stage.OWNER, "车主": Stage.OWNER, "保有客户": Stage.OWNER, "成交": Stage.OWNER,
    "lost": Stage.LOST, "战败": Stage.LOST, "流失": Stage.LOST,
}
_YEAR = re.compile(r"^(\d{4})(?:款|年款|年)?$")
# Fast paths for the common clean cells (a million-row file is mostly these); anything else takes the
# full rule in `normalize`, which gives the same result for these inputs.
_PLAIN_MOBILE = re.compile(r"1[3-9]\d{9}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc
_PLAIN_NAME = re.compile(r"[\u4e00-\u9fff]{1,64}")
# Text that NFKC, trimming and space-collapsing leave as it is: ASCII letters and digits, common CJK
# ideographs and a few marks, in words separated by single spaces.
_PLAIN_TEXT = re.compile(r"[0-9A-Za-z\u4e00-\u9fff._#/-]+(?: [0-9A-Za-z\u4e00-\u9fff._#/-]+)*")


@dataclass(frozen=True)
class Problem:
    """Why a row was refused: a msgid with params, about the file column `column` ("" for the row)."""

    column: str
    message: str
    params: dict[str, object] = field(default_factory=dict)


@dataclass
class ParsedRow:
    """One data row: its line, its original cells, and the normalised values (or its problems)."""

    line: int
    cells: dict[str, Cell]
    customer: dict[str, Any] = field(default_factory=dict)
    vehicle: dict[str, Any] | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the row can be written."""
        return not self.problems

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as the constructor's arguments: half the cost of a dataclass's default, per row a big
        file's parsing process sends."""
        return ParsedRow, (self.line, self.cells, self.customer, self.vehicle, self.problems)


def parse_row(line: int, cells: dict[str, Cell], columns: dict[str, str]) -> ParsedRow:
    """Validate one row; `columns` maps the file's header to a canonical field name."""
    row = ParsedRow(line, cells)
    problems = row.problems
    values: dict[str, Any] = {}
    get = cells.get
    for header, fld, rule in _plan(columns):
        raw = get(header)
        if raw is None or raw == "":
            continue  # every rule takes an empty cell for a missing value
        try:
            value = rule(fld, raw)
        except Invalid as exc:
            problems.append(Problem(header, exc.message, dict(exc.params)))
            continue
        if value is not None:
            values[fld] = value
    phone = values.pop("mobile", None)
    if phone is not None:
        values["mobile" if phone.kind == "mobile" else "landline"] = phone.value
    # A customer number alone may name an existing customer; the upsert refuses it for a new one.
    if not problems and not (values.get("name") or values.get("mobile") or values.get("external_id")):
        problems.append(Problem("", "A row needs a customer name or a mobile number."))
    vehicle = {k: values[k] for k in VEHICLE_FIELDS if k in values}
    if vehicle and not (vehicle.get("vin") or vehicle.get("plate")):
        header_of = {fld: header for header, fld in columns.items()}
        columns_given = ", ".join(header_of[k] for k in vehicle)
        problems.append(Problem("", "Vehicle details (%(columns)s) need a VIN or a plate number.",
                                {"columns": columns_given}))
    row.customer = {k: values[k] for k in CUSTOMER_FIELDS if k in values}
    row.vehicle = vehicle or None
    return row


_Plan = tuple[tuple[str, str, Callable[[str, Cell], Any]], ...]
_last_plan: tuple[dict[str, str], tuple[tuple[str, str], ...], _Plan] | None = None


def _plan(columns: dict[str, str]) -> _Plan:
    """(header, field, rule) per mapped column; the last one is kept, since a file maps its columns once."""
    global _last_plan
    last = _last_plan
    items = tuple(columns.items())
    if last is not None and last[0] is columns and last[1] == items:
        return last[2]
    plan = tuple((header, fld, _ROW_RULES.get(fld, _plain)) for header, fld in items)
    _last_plan = (columns, items, plan)
    return plan


def _plain(fld: str, raw: Cell) -> str | None:
    """Free text (city, source, brand, ...): folded, trimmed, inner spaces collapsed, length-checked."""
    if raw is None:
        return None
    if type(raw) is str and _PLAIN_TEXT.fullmatch(raw) and len(raw) <= TEXT_LIMITS.get(fld, 100):
        return raw
    text = " ".join(unicodedata.normalize("NFKC", str(raw)).split())
    if not text:
        return None
    if _CONTROL.search(text):
        raise normalize.FieldError(fld, "This text contains control characters.")
    limit = TEXT_LIMITS.get(fld, 100)
    if len(text) > limit:
        raise normalize.FieldError(fld, "This text is too long: %(length)d characters, at most %(max)d.",
                                   length=len(text), max=limit)
    return text


def _phone(fld: str, raw: Cell) -> normalize.Phone | None:
    if isinstance(raw, str) and _PLAIN_MOBILE.fullmatch(raw):
        return normalize.Phone("mobile", raw)
    return normalize.phone(raw, field=fld)  # numbers from XLSX cells too (13812345678.0)


def _name(fld: str, raw: Cell) -> str | None:
    if isinstance(raw, str) and _PLAIN_NAME.fullmatch(raw):
        return raw
    return normalize.person_name(raw)


def _stage(fld: str, raw: Cell) -> Stage | None:
    text = _plain(fld, raw)
    if text is None:
        return None
    stage = STAGES.get(text.lower())
    if stage is None:
        raise normalize.FieldError(fld, "Unknown customer stage “%(value)s”: use lead, prospect, owner or lost.",
                                   value=text)
    return stage


def _model_year(fld: str, raw: Cell) -> int | None:
    text = _plain(fld, raw)
    if text is None:
        return None
    match = _YEAR.match(text.replace(" ", ""))
    year = int(match.group(1)) if match else None
    if year is None or not 1950 <= year <= 2100:
        raise normalize.FieldError(fld, "Not a model year: “%(value)s” (write it like 2023).", value=text)
    return year


def _date(fld: str, raw: Cell) -> Any:
    if type(raw) is str:
        if _ISO_DATE.fullmatch(raw):
            try:
                day = date.fromisoformat(raw)
            except ValueError:
                day = None  # no such day: the full rule says so in the dealer's words
            if day is not None and FIRST_YEAR <= day.year <= LAST_YEAR:
                return day
        return _text_date(fld, raw)
    return normalize.parse_date(raw, fld)


@lru_cache(maxsize=1 << 15)
def _text_date(fld: str, raw: str) -> date | None:
    """Dates written as text repeat a lot in a big file (a few thousand days, a few formats)."""
    return normalize.parse_date(raw, fld)


@lru_cache(maxsize=4096)
def _repeated(fld: str, raw: Cell) -> Any:
    """Fields whose values repeat (city, brand, model, gender ...): validated once per distinct value."""
    return _RULES.get(fld, _plain)(fld, raw)


def _cached(fld: str, raw: Cell) -> Any:
    return _repeated(fld, raw) if type(raw) is str else _RULES.get(fld, _plain)(fld, raw)


def _external_id(fld: str, raw: Cell) -> str | None:
    return _plain(fld, str(raw) if isinstance(raw, int) else raw)


_RULES: dict[str, Callable[[str, Cell], Any]] = {
    "external_id": _external_id,
    "name": _name,
    "mobile": _phone,
    "gender": lambda f, raw: normalize.gender(raw),
    "stage": _stage,
    "vin": lambda f, raw: normalize.vin(raw),
    "plate": lambda f, raw: normalize.plate(raw),
    "model_year": _model_year,
    "mileage": lambda f, raw: normalize.mileage(raw),
    "last_service_mileage": lambda f, raw: normalize.mileage(raw),
    **dict.fromkeys(DATE_FIELDS, _date),
}
# The rule parse_row uses per field: the same rules, through a cache where values repeat.
_ROW_RULES: dict[str, Callable[[str, Cell], Any]] = {
    **_RULES, **dict.fromkeys(("gender", "city", "source", "stage", "brand", "model", "model_year"), _cached)}
