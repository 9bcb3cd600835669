"""Date rule for imports: spreadsheet dates, Excel serial numbers and the ways people write dates in China."""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta

from scrm.services.normalize_base import N_, FieldError, clean_text, integral_number, shown

NOT_A_DATE = N_("%(value)s is not a date; write it like 2023-05-06.")
NO_SUCH_DATE = N_("There is no such day in the calendar: %(value)s.")
DATE_OUT_OF_RANGE = N_("The date %(value)s is outside the years 1900 to 2100.")

FIRST_YEAR, LAST_YEAR = 1900, 2100
# Excel's 1900 date system counts days from 1899-12-30 (it keeps Lotus' phantom 1900-02-29); serials in
# this window are 1954..2119, so plain numbers such as mileages or amounts are not taken for dates.
_EXCEL_EPOCH = date(1899, 12, 30)
_SERIAL_MIN, _SERIAL_MAX = 20_000, 80_000

_TIME = r"(?:[T\s]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})?)?"
_PATTERNS = tuple(re.compile(p + _TIME) for p in (
    r"(\d{4})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})",  # 2023-05-06, 2023/5/6, 2023.5.6
    r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?",  # 2023年5月6日
    r"(\d{4})(\d{2})(\d{2})",  # 20230506
))


def _checked(year: int, month: int, day: int, field: str, raw: object) -> date:
    """Build the date, telling an out-of-range year apart from a day that does not exist."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise FieldError(field, DATE_OUT_OF_RANGE, value=shown(raw))
    try:
        return date(year, month, day)
    except ValueError:
        raise FieldError(field, NO_SUCH_DATE, value=shown(raw)) from None


def _from_serial(serial: float, field: str, raw: object) -> date:
    """An Excel serial day number (1900 date system; the fraction is the time of day)."""
    day = _EXCEL_EPOCH + timedelta(days=math.floor(serial))
    return _checked(day.year, day.month, day.day, field, raw)


def parse_date(raw: object, field: str) -> date | None:
    """A `date` from XLSX date cells, Excel serials and strings like 2023-05-06, 2023年5月6日, 20230506."""
    if isinstance(raw, datetime):
        return _checked(raw.year, raw.month, raw.day, field, raw)
    if isinstance(raw, date):
        return _checked(raw.year, raw.month, raw.day, field, raw)
    number = integral_number(raw)
    if isinstance(raw, float) and math.isfinite(raw) and _SERIAL_MIN <= raw <= _SERIAL_MAX:
        return _from_serial(raw, field, raw)
    if number is not None and _SERIAL_MIN <= number <= _SERIAL_MAX:
        return _from_serial(number, field, raw)
    non_integral = isinstance(raw, float) and number is None
    if isinstance(raw, bool) or non_integral or (number is not None and not 10_000_000 <= number <= 99_999_999):
        raise FieldError(field, NOT_A_DATE, value=shown(raw))
    text = clean_text(number if number is not None else raw)
    if text is None:
        return None
    if text.isdigit() and len(text) == 5 and _SERIAL_MIN <= int(text) <= _SERIAL_MAX:
        return _from_serial(int(text), field, raw)  # a serial that a CSV export wrote as text
    for pattern in _PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            year, month, day = (int(g) for g in match.groups())
            return _checked(year, month, day, field, raw)
    raise FieldError(field, NOT_A_DATE, value=shown(raw))
