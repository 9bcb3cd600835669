"""A dealer-system export CSV of generated customers (Chinese headers), with planted dirty rows.

Dirty rows demo the import's checks: a bad mobile, a VIN with a wrong check digit and an impossible
date are rejected with their reasons; a landline in the mobile column is kept, as a landline.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import IO

from scrm.services.demo_generator import GenCustomer

HEADERS = ["客户编号", "姓名", "手机", "性别", "生日", "城市", "客户来源", "客户阶段", "车架号", "车牌号", "品牌",
           "车型", "年款", "购车日期", "行驶里程", "里程日期", "上次保养日期", "上次保养里程", "保险到期", "质保到期"]
DIRTY_KINDS = ("bad_mobile", "bad_vin", "impossible_date", "landline")
REJECTED_KINDS = frozenset(DIRTY_KINDS) - {"landline"}
STAGE_WORDS = {"owner": "车主", "prospect": "意向客户", "lead": "线索", "lost": "战败"}


@dataclass
class CsvSink:
    """Writes rows as they come; `dirty` maps a file line number (the header is line 1) to its defect."""

    path: Path
    rng: random.Random
    dirty_rate: float = 0.0
    encoding: str = "utf-8-sig"
    dirty: dict[int, str] = field(default_factory=dict)
    rows: int = 0
    _fh: IO[str] | None = None

    def __enter__(self) -> CsvSink:
        self._fh = self.path.open("w", encoding=self.encoding, newline="")
        self._csv = csv.writer(self._fh)
        self._csv.writerow(HEADERS)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()

    def write(self, batch: list[GenCustomer]) -> None:
        """One line per customer, with the first vehicle's details."""
        for c in batch:
            row = self._row(c)
            self.rows += 1
            line = self.rows + 1
            if self.dirty_rate and self.rng.random() < self.dirty_rate:
                kind = self.rng.choice([k for k in DIRTY_KINDS if k != "bad_vin" or row[8]])
                self._spoil(row, kind, c)
                self.dirty[line] = kind
            self._csv.writerow(row)

    def _date(self, day: date | None) -> str:
        if day is None:
            return ""
        style = self.rng.random()
        if style < 0.6:
            return day.isoformat()
        if style < 0.85:
            return f"{day.year}/{day.month}/{day.day}"
        return f"{day.year}年{day.month}月{day.day}日"

    def _row(self, c: GenCustomer) -> list[str]:
        v = c.vehicles[0] if c.vehicles else None
        mileage = ""
        if v is not None and v.mileage is not None:
            mileage = f"{v.mileage / 10000:g}万" if self.rng.random() < 0.1 else str(v.mileage)  # 2.3456万
        return [c.external_id, c.name, c.mobile or c.landline or "", "男" if c.gender == "male" else "女",
                self._date(c.birthday), c.city, c.source, STAGE_WORDS[c.stage],
                (v.vin or "") if v else "", (v.plate or "") if v else "", v.brand if v else "", v.model if v else "",
                str(v.model_year) if v else "", self._date(v.purchase_date) if v else "", mileage,
                self._date(v.mileage_date) if v else "", self._date(v.last_service_date) if v else "",
                str(v.last_service_mileage or "") if v else "", self._date(v.insurance_expiry) if v else "",
                self._date(v.warranty_expiry) if v else ""]

    def _spoil(self, row: list[str], kind: str, c: GenCustomer) -> None:
        if kind == "bad_mobile":
            row[2] = (c.mobile or "13800138000")[:10]  # a digit lost: ten digits is no number at all
        elif kind == "bad_vin":
            vin = row[8]
            wrong = "0" if vin[8] != "0" else "1"
            row[8] = vin[:8] + wrong + vin[9:]
        elif kind == "impossible_date":
            row[4] = f"{c.birthday.year}-02-30"
        else:
            row[2] = f"021-{self.rng.randint(5, 6)}{self.rng.randrange(10**6, 10**7):07d}"
