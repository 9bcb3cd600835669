"""Read a dealer's export (CSV in UTF-8, UTF-8 with BOM or GBK/GB18030, or XLSX) as rows of cells.

`open_table(path)` checks the whole file up front (encoding, header row) so a bad file fails before any
row is written; iterating the table then streams rows as `(line_number, {header: value})`, where
`line_number` is the row number a spreadsheet program shows (the header is row 1).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from scrm.services.errors import Invalid

Cell = str | int | float | date | datetime | None
_CHUNK = 1 << 20
_XLSX_MAGIC = b"PK\x03\x04"
_XLS_MAGIC = b"\xd0\xcf\x11\xe0"


class UnreadableFile(Invalid):
    """The file as a whole cannot be imported (not a table, unknown encoding, no header row)."""

    message = "The file could not be read."


class Table:
    """A header row and a stream of data rows; `size_hint` is an upper bound on the data rows."""

    def __init__(self, headers: list[str], rows: Iterator[tuple[int, list[Cell]]], size_hint: int,
                 close: Callable[[], None]) -> None:
        self.raw_headers = headers
        self.headers = _unique(headers)
        self.size_hint = size_hint
        self._rows = rows
        self.close = close

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[tuple[int, dict[str, Cell]]]:
        width = len(self.headers)
        for line, cells in self._rows:
            if all(_blank(c) for c in cells):
                continue  # blank lines carry nothing to import or to report
            padded = (cells + [None] * width)[:width]
            yield line, dict(zip(self.headers, padded, strict=True))


def open_table(path: Path) -> Table:
    """Open a CSV or XLSX file (detected from its content, not its name)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise UnreadableFile("The file could not be opened: %(error)s", error=exc.strerror or str(exc)) from exc
    if head.startswith(_XLS_MAGIC):
        raise UnreadableFile("Old Excel files (.xls) are not supported: save the sheet as .xlsx or CSV.")
    if head.startswith(_XLSX_MAGIC):
        return _xlsx(path)
    return _csv(path)


def _csv(path: Path) -> Table:
    encoding, lines = _detect_encoding(path)
    fh = path.open("r", encoding=encoding, newline="")
    first = fh.readline()
    if not first.strip():
        fh.close()
        raise UnreadableFile("The file has no header row.")
    delimiter = max(",\t;", key=first.count)
    header_reader = csv.reader(io.StringIO(first), delimiter=delimiter)
    headers = [h.strip() for h in next(header_reader, [])]
    if not any(headers):
        fh.close()
        raise UnreadableFile("The file has no header row.")

    def rows() -> Iterator[tuple[int, list[Cell]]]:
        reader = csv.reader(fh, delimiter=delimiter)
        for index, record in enumerate(reader, start=2):
            yield index, [c.strip() for c in record]

    return Table(headers, rows(), max(lines - 1, 0), fh.close)


def _detect_encoding(path: Path) -> tuple[str, int]:
    """Strict UTF-8 over the whole file first (a BOM is dropped), else GB18030 (a superset of GBK)."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        lines = 0
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    decoder.decode(chunk)
                    lines += chunk.count(b"\n")
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding, lines + 1
    raise UnreadableFile("The file is neither UTF-8 nor GBK text: save it as CSV (UTF-8) or .xlsx.")


def _xlsx(path: Path) -> Table:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged archive
        raise UnreadableFile("The Excel file could not be read: %(error)s", error=str(exc)) from exc
    if not book.worksheets:
        book.close()
        raise UnreadableFile("The file has no header row.")
    sheet = book.worksheets[0]
    values = sheet.iter_rows(values_only=True)
    first = next(values, None)
    headers = [_text(c) for c in first or ()]
    while headers and not headers[-1]:
        headers.pop()
    if not any(headers):
        book.close()
        raise UnreadableFile("The file has no header row.")

    def rows() -> Iterator[tuple[int, list[Cell]]]:
        for index, record in enumerate(values, start=2):
            yield index, [_cell(c) for c in record]

    size = (sheet.max_row or 0) - 1
    return Table(headers, rows(), max(size, 0), book.close)


def _cell(value: Any) -> Cell:
    """Excel stores long numbers as floats: 13812345678.0 becomes the int 13812345678."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return value.strip()
    if value is None or isinstance(value, int | float | date | datetime):
        return value
    return str(value)


def _text(value: Any) -> str:
    return "" if value is None else str(_cell(value)).strip()


def _blank(value: Cell) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _unique(headers: list[str]) -> list[str]:
    """Keys for the row dicts: a repeated or empty header gets a suffix so no column is lost."""
    seen: dict[str, int] = {}
    out = []
    for index, header in enumerate(headers, start=1):
        name = header or f"#{index}"
        count = seen.get(name, 0) + 1
        seen[name] = count
        out.append(name if count == 1 else f"{name} ({count})")
    return out
