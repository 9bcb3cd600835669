"""Shared pieces of the import rules: the error they raise and the text clean-up they all start with."""

from __future__ import annotations

import unicodedata

from scrm.services.errors import Invalid

# Invisible characters that spreadsheets and copy-paste leave behind (BOM, zero-width space/joiners).
_INVISIBLE = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060"), None)
_SHOWN_MAX = 40


def N_(msgid: str) -> str:
    """Mark a msgid for extraction; it is translated where it is shown."""
    return msgid


class FieldError(Invalid):
    """One field of an imported row is not valid; `message` is an English msgid with `params`."""

    def __init__(self, field: str, message: str, **params: object) -> None:
        super().__init__(message, field=field, **params)


def clean_text(raw: object) -> str | None:
    """Return `raw` as NFKC-folded, trimmed text (full-width → half-width), or None when it is empty."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", str(raw)).translate(_INVISIBLE).strip()
    return text or None


def shown(raw: object) -> str:
    """The offending value as it may appear in a message: trimmed and cut to a readable length."""
    text = " ".join(str(raw).split())
    return text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 1] + "…"


def integral_number(raw: object) -> int | None:
    """An int (or a float without a fraction, as XLSX cells give numbers) as int; None for anything else."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    return None
