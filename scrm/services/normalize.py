"""Validation and normalisation rules for imported customer and vehicle data (pure functions, no I/O).

Every rule returns None for empty input (missing is not invalid: the importer decides what is required)
and raises `FieldError` with an English msgid for bad input. Dates live in `normalize_dates`, the header
map in `normalize_headers`; both are re-exported here so callers import one module.
"""

from __future__ import annotations

import math
import operator
import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

import phonenumbers
from phonenumbers import PhoneNumberType

from scrm.services.normalize_base import N_, FieldError, clean_text, integral_number, shown
from scrm.services.normalize_dates import parse_date
from scrm.services.normalize_headers import FIELD_LABELS, FIELDS, HEADERS, header_key, map_headers

__all__ = ["FIELDS", "FIELD_LABELS", "HEADERS", "FieldError", "Phone", "gender", "header_key", "map_headers",
           "mileage", "money", "parse_date", "person_name", "phone", "plate", "vin", "vin_check_digit"]

NOT_PHONE = N_("%(value)s is not a mainland mobile or landline number (landlines need the area code, "
               "e.g. 021-58881234).")
ONE_PHONE = N_("Put only one phone number in the cell: %(value)s.")
VIN_CHARACTERS = N_("A VIN may contain only digits and the letters A–Z except I, O and Q; found %(chars)s.")
VIN_LENGTH = N_("A VIN has 17 characters; %(value)s has %(length)d.")
VIN_CHECK_DIGIT = N_("The VIN %(value)s fails its check: the 9th character should be %(expected)s, not "
                     "%(actual)s. Look for a typing error.")
PLATE_PROVINCE = N_("A licence plate starts with a province abbreviation such as 沪 or 粤: %(value)s.")
PLATE_FORMAT = N_("%(value)s is not a valid licence plate (e.g. 沪A12345, or 沪AD12345 for a new-energy car).")
NOT_MILEAGE = N_("%(value)s is not a mileage; give the kilometres as a number, e.g. 12345 or 1.2万.")
MILEAGE_RANGE = N_("Mileage must be between 0 and 2,000,000 km; %(value)s is not.")
NOT_GENDER = N_("%(value)s is not a gender; use 男 or 女 (or M / F).")
NAME_CONTROL_CHARS = N_("The name contains invisible or control characters.")
NAME_NO_LETTERS = N_("%(value)s is not a person's name: it has no letters or Chinese characters.")
NAME_LENGTH = N_("A name has at most %(max)d characters; this one has %(length)d.")
NOT_MONEY = N_("%(value)s is not an amount of money, e.g. 1234.50 or ¥1,234.50.")
MONEY_RANGE = N_("The amount must be between 0 and 10,000,000 yuan; %(value)s is not.")

# --- phone ---------------------------------------------------------------------------------------

_MOBILE = re.compile(r"1[3-9]\d{9}")
_PHONE_CHARS = re.compile(r"\+?[\d\s\-()]+")
_BRACKETED_CODE = re.compile(r"^\(\s*\+?\s*86\s*\)")  # "(+86) 138...", "(86)138..."
_SEVERAL = re.compile(r"[/,;、|]")
_DASHES = str.maketrans(dict.fromkeys("‐‑‒–—―−", "-"))
_LANDLINE_TYPES = (PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE)


@dataclass(frozen=True)
class Phone:
    """A normalised mainland number: 11 digits for a mobile, `0AC-NNNNNNNN` for a landline."""

    kind: Literal["mobile", "landline"]
    value: str


def phone(raw: object, *, field: str = "mobile") -> Phone | None:
    """Parse a mainland mobile or landline number (with or without +86, spaces, dashes, full-width digits)."""
    number = integral_number(raw)
    text = str(number) if number is not None else clean_text(raw)
    if text is None:
        return None
    text = _BRACKETED_CODE.sub("+86", text.translate(_DASHES), count=1)
    if not _PHONE_CHARS.fullmatch(text):
        parts = [p for p in _SEVERAL.split(text) if sum(c.isdigit() for c in p) >= 7]
        raise FieldError(field, ONE_PHONE if len(parts) > 1 else NOT_PHONE, value=shown(raw))
    try:
        parsed = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        raise FieldError(field, NOT_PHONE, value=shown(raw)) from None
    national = str(parsed.national_number)
    if parsed.country_code == 86 and not parsed.extension:
        if _MOBILE.fullmatch(national):
            return Phone("mobile", national)
        if phonenumbers.is_valid_number(parsed) and phonenumbers.number_type(parsed) in _LANDLINE_TYPES:
            area = phonenumbers.length_of_geographical_area_code(parsed)
            if area:
                return Phone("landline", f"0{national[:area]}-{national[area:]}")
    raise FieldError(field, NOT_PHONE, value=shown(raw))


# --- VIN (ISO 3779 / GB 16735) ------------------------------------------------------------------

_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_VIN_LETTERS = (dict(zip("ABCDEFGH", range(1, 9), strict=True)) | dict(zip("JKLMN", range(1, 6), strict=True))
                | {"P": 7, "R": 9} | dict(zip("STUVWXYZ", range(2, 10), strict=True)))
_VIN_ALLOWED = frozenset("0123456789") | frozenset(_VIN_LETTERS)
_VIN_DROP = re.compile(r"[\s\-]+")
_VIN_VALUES = {**{str(d): d for d in range(10)}, **_VIN_LETTERS}
_PLAIN_VIN = re.compile(r"[0-9A-HJ-NPR-Z]{17}")  # a clean cell: already in its normal form


def vin_check_digit(value: str) -> str:
    """The check digit (position 9) a 17-character VIN of allowed characters must carry."""
    if len(value) != 17:
        raise ValueError(f"a VIN has 17 characters, not {len(value)}")
    remainder = sum(map(operator.mul, _VIN_WEIGHTS, map(_VIN_VALUES.__getitem__, value))) % 11
    return "X" if remainder == 10 else str(remainder)


def vin(raw: object, *, field: str = "vin") -> str | None:
    """Normalise a VIN: 17 characters, upper-case, no I/O/Q, with a correct check digit."""
    if type(raw) is str and _PLAIN_VIN.fullmatch(raw) and raw[8] == vin_check_digit(raw):
        return raw
    text = clean_text(raw)
    if text is None:
        return None
    value = _VIN_DROP.sub("", text).upper()
    bad = "".join(dict.fromkeys(c for c in value if c not in _VIN_ALLOWED))
    if bad:
        raise FieldError(field, VIN_CHARACTERS, chars=shown(bad), value=shown(raw))
    if len(value) != 17:
        raise FieldError(field, VIN_LENGTH, value=shown(raw), length=len(value))
    expected = vin_check_digit(value)
    if value[8] != expected:
        raise FieldError(field, VIN_CHECK_DIGIT, value=value, expected=expected, actual=value[8])
    return value


# --- licence plate (GA 36-2018) -------------------------------------------------------------------

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领"
_L = "A-HJ-NP-Z"  # letters without I and O
_NEV = "DABCEFGHJK"
_PLATE = re.compile(
    rf"[{PROVINCES}][{_L}](?:"
    rf"[{_L}0-9]{{4}}[{_L}0-9挂学警港澳领]"  # ordinary (the last may be a special-use character)
    rf"|[{_NEV}](?:\d{{5}}|[{_L}]\d{{4}})"  # small new-energy vehicle
    rf"|\d{{5}}[{_NEV}])"  # large new-energy vehicle
)
_PLATE_DROP = re.compile(r"[\s.·・•‧∙\-]+")


def plate(raw: object, *, field: str = "plate") -> str | None:
    """Normalise a Chinese licence plate (ordinary or new-energy): upper-case, no spaces or dots."""
    if type(raw) is str and _PLATE.fullmatch(raw):
        return raw  # already in its normal form
    text = clean_text(raw)
    if text is None:
        return None
    value = _PLATE_DROP.sub("", text).upper()
    if not value or value[0] not in PROVINCES:
        raise FieldError(field, PLATE_PROVINCE, value=shown(raw))
    if not _PLATE.fullmatch(value):
        raise FieldError(field, PLATE_FORMAT, value=shown(raw))
    return value


# --- numbers with units -----------------------------------------------------------------------------

_DECIMAL = re.compile(r"-?\d+(?:\.\d+)?")
_PLAIN_KM = re.compile(r"[0-9]{1,7}|[0-9]{1,3}(?:,[0-9]{3}){1,2}")  # 12345, 12,345: whole kilometres
_KM_UNITS = ("公里", "千米", "kms", "km")
_MONEY_MARKS = re.compile(r"[\s,¥$]|人民币|rmb|cny|元")


def _number(text: str, units: tuple[str, ...]) -> Decimal | None:
    """A Decimal from a cleaned, lower-cased string: strip one unit, then an optional 万 (×10,000)."""
    for unit in units:
        if text.endswith(unit):
            text = text[: -len(unit)]
            break
    factor = 1
    if text.endswith("万"):
        factor, text = 10_000, text[:-1]
    return Decimal(text) * factor if _DECIMAL.fullmatch(text) else None


def _numeric(raw: object) -> Decimal | None:
    """A finite int/float cell value as Decimal (via str, so 0.1 stays 0.1); None for other types."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return None
    return Decimal(str(raw)) if math.isfinite(raw) else Decimal("NaN")


def mileage(raw: object, *, field: str = "mileage") -> int | None:
    """Kilometres as int from `12,345`, `12345km`, `12345 公里`, `1.2万公里`, numbers; 0..2,000,000."""
    if type(raw) is str and _PLAIN_KM.fullmatch(raw):
        km = int(raw.replace(",", ""))
        if km <= 2_000_000:
            return km
    value = _numeric(raw)
    if value is None:
        text = clean_text(raw)
        if text is None:
            return None
        value = _number(re.sub(r"[\s,]", "", text.lower()), _KM_UNITS)
    if value is None or not value.is_finite():
        raise FieldError(field, NOT_MILEAGE, value=shown(raw))
    if not -1 < value < 2_000_001:  # before rounding: quantize fails on numbers beyond its precision
        raise FieldError(field, MILEAGE_RANGE, value=shown(raw))
    km = int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if not 0 <= km <= 2_000_000:
        raise FieldError(field, MILEAGE_RANGE, value=shown(raw))
    return km


def money(raw: object, *, field: str = "amount") -> Decimal | None:
    """An amount in yuan, rounded to fen, from `¥1,234.50`, `1234.5元`, numbers; 0..10,000,000."""
    value = _numeric(raw)
    if value is None:
        text = clean_text(raw)
        if text is None:
            return None
        value = _number(_MONEY_MARKS.sub("", text.lower()), ())
    if value is None or not value.is_finite():
        raise FieldError(field, NOT_MONEY, value=shown(raw))
    if not -1 < value < 10_000_001:  # before rounding: quantize fails on numbers beyond its precision
        raise FieldError(field, MONEY_RANGE, value=shown(raw))
    amount = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if not 0 <= amount <= 10_000_000:
        raise FieldError(field, MONEY_RANGE, value=shown(raw))
    return amount + 0  # + 0 turns a rounded -0.00 into 0.00


# --- people ------------------------------------------------------------------------------------------

_GENDERS: dict[str, Literal["male", "female"] | None] = {
    **dict.fromkeys(("男", "男性", "男士", "先生", "m", "male", "man"), "male"),
    **dict.fromkeys(("女", "女性", "女士", "小姐", "f", "female", "woman"), "female"),
    # Dealer systems write "unknown" in many ways; it means missing, not wrong.
    **dict.fromkeys(("未知", "保密", "不详", "-", "unknown", "n/a"), None),
}


def gender(raw: object, *, field: str = "gender") -> Literal["male", "female"] | None:
    """`male`/`female` from 男/女/先生/女士/M/F/male/female (any case); None when empty or unknown."""
    text = clean_text(raw)
    if text is None:
        return None
    key = text.casefold()
    if key not in _GENDERS:
        raise FieldError(field, NOT_GENDER, value=shown(raw))
    return _GENDERS[key]


def person_name(raw: object, *, field: str = "name", max_length: int = 64) -> str | None:
    """A trimmed name with inner whitespace collapsed: 1-64 characters, letters required, no control chars."""
    number = integral_number(raw)
    text = clean_text(number if number is not None else raw)
    if text is None:
        return None
    value = " ".join(text.split())
    if any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs", "Cn") for c in value):
        raise FieldError(field, NAME_CONTROL_CHARS)
    if not any(unicodedata.category(c).startswith("L") for c in value):
        raise FieldError(field, NAME_NO_LETTERS, value=shown(value))
    if len(value) > max_length:
        raise FieldError(field, NAME_LENGTH, max=max_length, length=len(value))
    return value
