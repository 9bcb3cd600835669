"""Text normalisation shared by the bot's filters and keyword matching."""

from __future__ import annotations

import unicodedata
from functools import lru_cache


# Cached: a text message is normalised once per text filter it meets on its way through the routes
# (up to a few dozen per push), always to the same result.
@lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """Trimmed, case-folded, full-width folded to half-width (NFKC): "ＨＥＬＰ " -> "help"."""
    return unicodedata.normalize("NFKC", text).strip().casefold()
