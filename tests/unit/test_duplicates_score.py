"""Scoring of duplicate candidates: each rule on its own, and the thresholds that keep strangers apart."""

from __future__ import annotations

from datetime import date

import pytest

from scrm.models import PairKind
from scrm.services.duplicates_score import THRESHOLD, Person, fold_name, mobile_match, name_match, pinyin, score_pair


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("张伟", "张伟", "same_name"),
    ("张 伟", "张伟", "same_name"),            # spaces do not count
    ("Wang Fang", "wang fang", "same_name"),  # nor case
    ("张伟", "章伟", "homophone_name"),         # same sound, other character
    ("李娜", "李那", "homophone_name"),
    ("王小明", "王晓明", "homophone_name"),
    ("欧阳娜娜", "欧阳娜", "similar_name"),      # a character missing
    ("张伟", "李娜", ""),
    ("张伟", None, ""),
    ("", "张伟", ""),
])
def test_name_match(a: str | None, b: str | None, expected: str) -> None:
    assert name_match(a, b) == expected


def test_pinyin_and_fold() -> None:
    assert pinyin("章伟") == pinyin("张伟") == "zhangwei"
    assert fold_name(" Li  Na ") == "lina"


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("13812345678", "13812345679", "mobile_typo"),      # last digit
    ("13812345678", "13912345678", "mobile_typo"),      # third digit
    ("13812345678", "13821345678", "mobile_transposed"),  # 1 and 2 swapped
    ("13812345678", "13812345687", "mobile_transposed"),
    ("13812345678", "13812345600", ""),                 # two digits differ, not a swap
    ("13812345678", "13812345678", ""),                 # the same number is not a typo
    ("13812345678", None, ""),
])
def test_mobile_match(a: str | None, b: str | None, expected: str) -> None:
    assert mobile_match(a, b) == expected


def p(id: int, **kw: object) -> Person:
    plates = kw.pop("plates", ())
    return Person(id=id, plates=frozenset(plates), **kw)  # type: ignore[arg-type]


def test_same_plate_homophone_scores_high_and_fuzzy() -> None:
    s = score_pair(p(2, name="张伟", plates={"沪A12345"}), p(1, name="章伟", plates={"沪A12345"}))
    assert s is not None and (s.first_id, s.second_id) == (1, 2)
    assert s.score == 85 and s.kind == PairKind.FUZZY
    assert s.reasons == ("homophone_name", "same_plate")


def test_same_plate_same_name_is_exact() -> None:
    s = score_pair(p(1, name="张伟", plates={"沪A12345"}), p(2, name="张伟", plates={"沪A12345", "沪B1"}))
    assert s is not None and s.kind == PairKind.EXACT and s.score == 90


def test_same_name_and_birthday_is_exact() -> None:
    s = score_pair(p(1, name="李娜", birthday=date(1985, 3, 1), city="上海"),
                   p(2, name="李娜", birthday=date(1985, 3, 1), city="上海"))
    assert s is not None and s.kind == PairKind.EXACT and s.score == 90
    assert "same_city" in s.reasons


def test_mobile_typo_with_same_name() -> None:
    s = score_pair(p(1, name="王芳", mobile="13812345678"), p(2, name="王芳", mobile="13812345679"))
    assert s is not None and s.score == 85 and "mobile_typo" in s.reasons and s.kind == PairKind.FUZZY


def test_same_landline_same_name() -> None:
    s = score_pair(p(1, name="赵强", landline="021-58881234"), p(2, name="赵强", landline="021-58881234"))
    assert s is not None and s.score == 80 and "same_landline" in s.reasons


def test_shared_plate_with_unrelated_names_is_a_family_car_not_a_duplicate() -> None:
    assert score_pair(p(1, name="张伟", plates={"沪A12345"}), p(2, name="李娜", plates={"沪A12345"})) is None


def test_similar_mobile_of_a_stranger_is_not_a_duplicate() -> None:
    assert score_pair(p(1, name="张伟", mobile="13812345678"), p(2, name="刘洋", mobile="13812345679")) is None


def test_same_name_alone_is_not_enough() -> None:
    assert score_pair(p(1, name="张伟", city="上海"), p(2, name="张伟", city="上海")) is None


def test_conflicting_birthday_and_gender_lower_the_score() -> None:
    base = score_pair(p(1, name="张伟", plates={"沪A1"}), p(2, name="张伟", plates={"沪A1"}))
    worse = score_pair(p(1, name="张伟", plates={"沪A1"}, birthday=date(1980, 1, 1), gender="male"),
                       p(2, name="张伟", plates={"沪A1"}, birthday=date(1990, 1, 1), gender="female"))
    assert base is not None and base.score == 90
    assert worse is None or worse.score < base.score  # 90 - 25 - 15 = 50: below the threshold
    assert worse is None and THRESHOLD > 90 - 25 - 15


def test_similar_name_with_plate_is_kept_below_exact() -> None:
    s = score_pair(p(1, name="欧阳娜娜", plates={"沪A1"}), p(2, name="欧阳娜", plates={"沪A1"}))
    assert s is not None and s.score == 70 and s.kind == PairKind.FUZZY


def test_a_record_never_pairs_with_itself() -> None:
    assert score_pair(p(1, name="张伟", plates={"沪A1"}), p(1, name="张伟", plates={"沪A1"})) is None
