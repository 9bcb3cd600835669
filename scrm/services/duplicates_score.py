"""Scoring of candidate duplicate pairs (pure functions, no I/O).

Blocking (scrm.services.duplicates) proposes pairs that share a key; this module says how likely the two
records are one person: a 0-100 score and reason codes. A pair needs evidence about the NAME (same,
homophone, similar) AND about identity (same plate, mobile one typo away, same birthday, same landline):
a shared plate alone is a family car, a similar mobile alone is a stranger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from rapidfuzz.distance import Levenshtein

from scrm.models import PairKind

THRESHOLD = 60  # pairs below this are not stored
NAME_SAME, NAME_HOMOPHONE, NAME_SIMILAR = 45, 40, 25
PLATE, MOBILE_TYPO, BIRTHDAY, LANDLINE = 45, 40, 40, 35
CITY = 5
BIRTHDAY_DIFFERS, GENDER_DIFFERS = -25, -15
SIMILAR_MIN = 0.6  # normalised similarity (characters or pinyin) for "similar_name"

# Reason codes, as stored in DuplicatePair.reasons (the pages translate them).
REASONS = ("same_name", "homophone_name", "similar_name", "same_plate", "mobile_typo", "mobile_transposed",
           "same_birthday", "same_landline", "same_city", "birthday_differs", "gender_differs")


@dataclass(frozen=True)
class Person:
    """What scoring looks at for one customer."""

    id: int
    name: str | None = None
    mobile: str | None = None
    landline: str | None = None
    birthday: date | None = None
    city: str | None = None
    gender: str | None = None
    plates: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Scored:
    """A scored pair, `first_id` < `second_id`."""

    first_id: int
    second_id: int
    score: int
    kind: PairKind
    reasons: tuple[str, ...]


def fold_name(name: str | None) -> str:
    """A name for comparison: no spaces, case-folded ('' when missing)."""
    return "".join((name or "").split()).casefold()


@lru_cache(maxsize=200_000)
def pinyin(name: str) -> str:
    """Tone-less pinyin of a folded name (非汉字 kept as is): 张伟 and 章伟 both give 'zhangwei'."""
    # imported here: its dictionaries take ~55 MB and 0.3 s, which only the duplicate checks need (not
    # every web worker that imports this module for its constants)
    from pypinyin import lazy_pinyin

    return "".join(lazy_pinyin(name))


def name_match(a: str | None, b: str | None) -> str:
    """'same_name', 'homophone_name', 'similar_name' or '' for two names."""
    fa, fb = fold_name(a), fold_name(b)
    if not fa or not fb:
        return ""
    if fa == fb:
        return "same_name"
    pa, pb = pinyin(fa), pinyin(fb)
    if pa == pb:
        return "homophone_name"
    chars = Levenshtein.normalized_similarity(fa, fb)
    sounds = Levenshtein.normalized_similarity(pa, pb)
    return "similar_name" if max(chars, sounds) >= SIMILAR_MIN else ""


def mobile_match(a: str | None, b: str | None) -> str:
    """'mobile_typo' (one digit differs), 'mobile_transposed' (two neighbours swapped) or ''."""
    if not a or not b or len(a) != len(b) or a == b:
        return ""
    diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(diff) == 1:
        return "mobile_typo"
    if len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]:
        return "mobile_transposed"
    return ""


_NAME_POINTS = {"same_name": NAME_SAME, "homophone_name": NAME_HOMOPHONE, "similar_name": NAME_SIMILAR}


def score_pair(a: Person, b: Person) -> Scored | None:
    """Score two customers; None when the evidence is below THRESHOLD or there is no name evidence."""
    if a.id == b.id:
        return None
    first, second = (a, b) if a.id < b.id else (b, a)
    name = name_match(a.name, b.name)
    if not name:
        return None
    reasons = [name]
    points = _NAME_POINTS[name]
    identity = 0
    if a.plates & b.plates:
        reasons.append("same_plate")
        identity += PLATE
    mobile = mobile_match(a.mobile, b.mobile)
    if mobile:
        reasons.append(mobile)
        identity += MOBILE_TYPO
    if a.birthday and a.birthday == b.birthday:
        reasons.append("same_birthday")
        identity += BIRTHDAY
    if a.landline and a.landline == b.landline:
        reasons.append("same_landline")
        identity += LANDLINE
    if not identity:
        return None
    points += identity
    if a.city and a.city == b.city:
        reasons.append("same_city")
        points += CITY
    if a.birthday and b.birthday and a.birthday != b.birthday:
        reasons.append("birthday_differs")
        points += BIRTHDAY_DIFFERS
    if a.gender and b.gender and a.gender != b.gender:
        reasons.append("gender_differs")
        points += GENDER_DIFFERS
    score = max(0, min(100, points))
    if score < THRESHOLD:
        return None
    exact = name == "same_name" and ("same_plate" in reasons or "same_birthday" in reasons)
    return Scored(first.id, second.id, score, PairKind.EXACT if exact else PairKind.FUZZY, tuple(reasons))
