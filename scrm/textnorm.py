"""Text normalisation shared by the bot's filters and keyword matching."""

from __future__ import annotations

import unicodedata


def normalize(text: str) -> str:
    """Trimmed, case-folded, full-width folded to half-width (NFKC): "ＨＥＬＰ " -> "help"."""
    return unicodedata.normalize("NFKC", text).strip().casefold()
