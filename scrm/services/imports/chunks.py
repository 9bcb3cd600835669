"""Parsed rows in chunks, the unit an import validates and writes at a time."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice

from scrm.services.imports.customers import ParsedRow


def chunks_of(rows: Iterable[ParsedRow], size: int) -> Iterator[list[ParsedRow]]:
    """The rows in lists of `size`."""
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk
