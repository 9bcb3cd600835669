"""The rejected-rows report: the file's own columns plus the line number and the reasons.

Written as CSV in UTF-8 with a BOM, so Excel on a Chinese Windows opens it without garbling, and
in the language of whoever runs the import. The file is created on the first rejected row only.
"""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from scrm.services.imports.customers import Problem
from scrm.services.imports.readers import Cell
from scrm.services.normalize_base import N_
from scrm.wechat.render import translator

LINE_HEADER = N_("Line number in the file")
REASON_HEADER = N_("Why the row was rejected")


class RejectReport:
    """Collects rejected rows into a CSV at `path`; `count` says how many were written."""

    def __init__(self, path: Path, headers: list[str], language: str, columns: dict[str, str]) -> None:
        self.path = path
        self.headers = headers
        self.count = 0
        self._columns = columns  # canonical field -> the file's header, to name a field in the file's words
        self._ = translator(language)
        self._separator = "；" if language == "zh" else "; "
        self._fh: IO[str] | None = None
        self._writer: Any = None

    def reason(self, problems: list[Problem]) -> str:
        """The problems of one row as one line of text in the report's language."""
        parts = []
        for p in problems:
            text = self._(p.message, **p.params)
            column = self._columns.get(p.column, p.column)
            parts.append(f"{column}: {text}" if column else text)
        return self._separator.join(parts)

    def add(self, line: int, cells: dict[str, Cell], problems: list[Problem]) -> None:
        """Write one rejected row."""
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("w", encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._fh)
            self._writer.writerow([self._(LINE_HEADER), self._(REASON_HEADER), *self.headers])
        self._writer.writerow([line, self.reason(problems), *(_show(cells.get(h)) for h in self.headers)])
        self.count += 1

    def close(self) -> None:
        """Flush and close the file (if any row was written)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _show(value: Cell) -> str:
    """A cell as the dealer typed it (dates from Excel as ISO dates)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") if value.time() != datetime.min.time() else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
