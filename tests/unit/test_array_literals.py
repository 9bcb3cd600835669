"""Array-literal elements: the one-pass builders give exactly what item-by-item escaping gives."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import pytest

from scrm.db import _bigints, _booleans, _quoted

PIECES = ['"', "\\", ",", "{", "}", "NULL", "", " ", "\t", "\n", "中文", "'", "\x01", "a", "\x01\x01", '\\"']


def _quoted_reference(items: list[Any]) -> str:
    return ",".join("NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in items)


def test_text_elements_match_item_by_item_escaping_for_awkward_text() -> None:
    rng = random.Random(20261124)
    for _ in range(3000):
        items: list[Any] = [None if rng.random() < 0.2 else "".join(rng.choices(PIECES, k=rng.randint(0, 4)))
                            for _ in range(rng.randint(0, 8))]
        assert _quoted(items) == _quoted_reference(items), items


def test_text_with_a_nul_or_a_non_text_item_takes_the_item_by_item_way() -> None:
    assert _quoted(["a\x00b", None]) == '"a\x00b",NULL'
    with pytest.raises(AttributeError):
        _quoted(["a", 5])


def test_integer_and_truth_elements() -> None:
    assert _bigints([1, -2, 30]) == "1,-2,30"
    assert _bigints([1, None, True, Decimal(7), "8"]) == "1,NULL,1,7,8"
    assert _bigints([]) == ""
    assert _booleans([True, False, 1, 0]) == "t,f,t,f"
    assert _booleans([True, None, False]) == "t,NULL,f"
