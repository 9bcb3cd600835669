"""Header map for imports: which spreadsheet column holds which customer or vehicle field."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

from scrm.services.normalize_base import N_, FieldError, shown

SAME_FIELD_TWICE = N_("The columns %(first)s (column %(first_column)d) and %(second)s (column %(second_column)d) "
                      "hold the same field; keep only one of them.")
UNKNOWN_TARGET = N_("The header map sends the column %(header)s to %(target)s, which is not a known field.")

FIELDS = ("external_id", "name", "mobile", "gender", "birthday", "city", "source", "stage", "vin", "plate",
          "brand", "model", "model_year", "purchase_date", "mileage", "mileage_date", "last_service_date",
          "last_service_mileage", "insurance_expiry", "warranty_expiry")

# What each field is called in messages and reports (msgids; translate where shown).
FIELD_LABELS: dict[str, str] = {
    "external_id": N_("Dealer customer ID"), "name": N_("Customer name"), "mobile": N_("Mobile number"),
    "gender": N_("Gender"), "birthday": N_("Birthday"), "city": N_("City"), "source": N_("Customer source"),
    "stage": N_("Customer stage"), "vin": N_("VIN"), "plate": N_("Licence plate"), "brand": N_("Brand"),
    "model": N_("Vehicle model"), "model_year": N_("Model year"), "purchase_date": N_("Purchase date"),
    "mileage": N_("Mileage"), "mileage_date": N_("Mileage reading date"),
    "last_service_date": N_("Last service date"), "last_service_mileage": N_("Last service mileage"),
    "insurance_expiry": N_("Insurance expiry"), "warranty_expiry": N_("Warranty expiry"),
    "amount": N_("Amount"), "header_map": N_("Header map"),
}

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "客户姓名", "车主", "车主姓名", "客户名称", "Name", "Customer", "Customer Name"),
    "mobile": ("手机", "手机号", "手机号码", "联系电话", "电话", "联系方式", "Mobile", "Phone", "Telephone"),
    "gender": ("性别", "Gender", "Sex"),
    "birthday": ("生日", "出生日期", "Birthday", "Date of Birth"),
    "city": ("城市", "所在城市", "City"),
    "source": ("来源", "客户来源", "Source"),
    "stage": ("阶段", "客户阶段", "Stage"),
    "vin": ("VIN", "车架号", "车辆识别代号", "VIN码"),
    "plate": ("车牌", "车牌号", "车牌号码", "Plate", "Licence Plate", "License Plate"),
    "brand": ("品牌", "Brand", "Make"),
    "model": ("车型", "车系", "Model"),
    "model_year": ("年款", "Model Year"),
    "purchase_date": ("购车日期", "购买日期", "开票日期", "Purchase Date"),
    "mileage": ("里程", "行驶里程", "当前里程", "Mileage", "Odometer"),
    "mileage_date": ("里程日期", "读数日期", "Mileage Date"),
    "last_service_date": ("上次保养日期", "最近保养日期", "上次保养", "Last Service Date", "Last Service"),
    "last_service_mileage": ("上次保养里程", "Last Service Mileage"),
    "insurance_expiry": ("保险到期", "保险到期日", "交强险到期", "Insurance Expiry"),
    "warranty_expiry": ("质保到期", "保修到期", "Warranty Expiry"),
    "external_id": ("客户编号", "客户ID", "DMS编号", "Customer ID", "External ID"),
}
HEADERS: dict[str, str] = {synonym: field for field, names in _SYNONYMS.items() for synonym in (field, *names)}

# "手机号码*" (a required marker) and "行驶里程(公里)" (a unit) mean the same as the bare header.
_DECORATION = re.compile(r"^\*+|\*+$|\([^()]*\)$")
_SPACING = re.compile(r"[\s_\-]+")


def header_key(header: object) -> str:
    """A header in comparable form: full-width folded, case-folded, without spaces, `_`, `-`, `*` or a unit."""
    text = unicodedata.normalize("NFKC", str(header)).replace("\ufeff", "").strip()
    text = _DECORATION.sub("", _SPACING.sub("", text.casefold()))
    return _DECORATION.sub("", text)


_DEFAULT_KEYS = {header_key(synonym): field for synonym, field in HEADERS.items()}


def map_headers(headers: Sequence[str | None], extra: Mapping[str, str] | None = None) -> dict[int, str]:
    """Column index → canonical field; unknown headers are ignored, `extra` (header → field, or "" to skip) wins.

    Two columns that land on one field raise FieldError, since which one to trust cannot be guessed.
    """
    keys = dict(_DEFAULT_KEYS)
    for name, target in (extra or {}).items():
        target = target.strip()
        if target and target not in FIELDS:
            raise FieldError("header_map", UNKNOWN_TARGET, header=shown(name), target=shown(target))
        keys[header_key(name)] = target
    mapped: dict[int, str] = {}
    first_column: dict[str, int] = {}
    for index, header in enumerate(headers):
        if header is None:
            continue
        field = keys.get(header_key(header), "")
        if not field:
            continue
        if field in first_column:
            first = first_column[field]
            raise FieldError(field, SAME_FIELD_TWICE, first=shown(headers[first]), first_column=first + 1,
                             second=shown(header), second_column=index + 1)
        first_column[field] = index
        mapped[index] = field
    return mapped
