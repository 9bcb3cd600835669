"""Collect every problem of a submitted form before refusing it, so the user sees them all at once."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from scrm.services.errors import Invalid

_URL = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


@dataclass
class FieldProblem:
    """One message (an English msgid with params) about one field."""

    field: str
    message: str
    params: dict[str, object] = dataclasses.field(default_factory=dict)


class FormInvalid(Invalid):
    """Bad input in one or more fields; `problems` lists them (the first is also `message`/`field`)."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        first = problems[0]
        super().__init__(first.message, field=first.field, **first.params)
        self.problems = problems


class Problems:
    """A collector: `add` problems, then `raise_if_any()`."""

    def __init__(self) -> None:
        self.items: list[FieldProblem] = []

    def add(self, field_name: str, message: str, **params: object) -> None:
        """Record a problem with `field_name`."""
        self.items.append(FieldProblem(field_name, message, dict(params)))

    def has(self, field_name: str) -> bool:
        """True when `field_name` already has a problem."""
        return any(p.field == field_name for p in self.items)

    def raise_if_any(self) -> None:
        """Raise FormInvalid when anything was added."""
        if self.items:
            raise FormInvalid(list(self.items))


def utf8_len(text: str) -> int:
    """Length in UTF-8 bytes (WeChat counts bytes)."""
    return len(text.encode("utf-8"))


def is_http_url(value: str) -> bool:
    """True for an absolute http(s) URL without spaces."""
    return bool(_URL.match(value))
