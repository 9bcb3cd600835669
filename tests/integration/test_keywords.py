"""Keyword matching order, normalisation, hits, and safe rendering of staff-written text."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from scrm import db
from scrm.models import KeywordReply, MatchMode
from scrm.services import keywords
from scrm.services.accounts import account_id
from scrm.services.dealer_cards import DealerCard
from tests.factories import make_dealer, make_keyword

pytestmark = pytest.mark.integration
CARD = DealerCard(id=1, code="C", name="浦东店", city="上海", address="世纪大道1号", phone="021-1", welcome_text="")


def acc() -> int:
    return account_id("demo")


def test_exact_beats_contains_then_priority_then_age(app: Any) -> None:
    contains = make_keyword("保养", "contains", match=MatchMode.CONTAINS, priority=50)
    exact = make_keyword("保养", "exact", match=MatchMode.EXACT)
    assert keywords.find(acc(), None, "保养").id == exact.id  # type: ignore[union-attr]
    assert keywords.find(acc(), None, "想保养").id == contains.id  # type: ignore[union-attr]
    low = make_keyword("轮胎", "low", match=MatchMode.CONTAINS, priority=1)
    high = make_keyword("换轮胎", "high", match=MatchMode.CONTAINS, priority=9)
    assert keywords.find(acc(), None, "我要换轮胎").id == high.id  # type: ignore[union-attr]
    assert low.id < high.id
    older = make_keyword("洗车", "older", match=MatchMode.CONTAINS)
    make_keyword("洗车", "newer", match=MatchMode.CONTAINS)
    assert keywords.find(acc(), None, "洗车吗").id == older.id  # type: ignore[union-attr]


def test_normalisation_full_width_case_and_spaces(app: Any) -> None:
    row = make_keyword("VIP", "vip", match=MatchMode.EXACT)
    for text in ("vip", " VIP ", "ｖｉｐ", "Vip\n"):
        assert keywords.find(acc(), None, text).id == row.id, text  # type: ignore[union-attr]
    assert keywords.find(acc(), None, "vipp") is None
    assert keywords.find(acc(), None, "   ") is None


def test_disabled_other_dealer_and_other_account_rows_never_match(app: Any) -> None:
    mine, theirs = make_dealer(), make_dealer()
    make_keyword("价格", "off", enabled=False)
    make_keyword("价格", "theirs", dealer_id=theirs.id)
    make_keyword("价格", "other account", account="safe")
    assert keywords.find(acc(), mine.id, "价格") is None
    own = make_keyword("价格", "mine", dealer_id=mine.id)
    assert keywords.find(acc(), mine.id, "价格").id == own.id  # type: ignore[union-attr]


def test_click_keys_match_exactly_only(app: Any) -> None:
    make_keyword("PROMO", "contains", match=MatchMode.CONTAINS)
    assert keywords.find(acc(), None, "PROMO_X", exact_only=True) is None
    assert keywords.find(acc(), None, "promo", exact_only=True) is not None


def test_match_counts_a_hit(app: Any) -> None:
    row = make_keyword("hi", "hello")
    assert keywords.match(acc(), None, "hi").id == row.id  # type: ignore[union-attr]
    assert keywords.match(acc(), None, "nothing") is None
    with db.transaction() as s:
        assert s.get(KeywordReply, row.id).hits == 1  # type: ignore[union-attr]


def test_rendering_uses_dealer_and_now(app: Any) -> None:
    now = datetime(2025, 3, 1, 1, 30, tzinfo=UTC)  # 09:30 in Asia/Shanghai
    source = "{{ dealer.name }}（{{ dealer.city }}）电话{{ dealer.phone }} {{ now.strftime('%H:%M') }}"
    out = keywords.render_text(source, CARD, now)
    assert out == "浦东店（上海）电话021-1 09:30"
    assert keywords.render_text("{{ dealer.name or '本店' }}", None) == "本店"
    assert keywords.render_text("plain {text} without tags", None) == "plain {text} without tags"


@pytest.mark.parametrize("source", [
    "{{ dealer.name ",                                   # syntax error
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",    # sandbox escape attempt
    "{{ 'a' * 1000000000 }}",                            # memory bomb
    "{{ 10 ** 10 ** 10 }}",                              # CPU bomb
    "{% for a in 'xxxxxxxxxx' %}{% for b in 'xxxxxxxxxx' %}x{% endfor %}{% endfor %}",
    "{{ 'x'|center(100000000) }}",
    "{{ '%999999999s' % 'x' }}",
    "{{ '{:>999999999}'.format('x') }}",
    "{% set ns = namespace(s='a') %}{{ ns.s }}",
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{{ range(10)|list }}",
])
def test_bad_or_hostile_templates_fall_back_to_the_raw_text_quickly(app: Any, source: str) -> None:
    started = time.monotonic()
    assert keywords.render_text(source, CARD) == source
    assert time.monotonic() - started < 0.5


def test_reply_text_reads_the_dealer_only_when_used(app: Any) -> None:
    dealer = make_dealer(name="南京店")
    row = make_keyword("地址", "{{ dealer.name }}欢迎您")
    assert keywords.reply_text(row, dealer.id) == "南京店欢迎您"
    plain = make_keyword("x", "没有变量")
    assert keywords.reply_text(plain, dealer.id) == "没有变量"


@pytest.mark.parametrize(("source", "uses"), [
    ("{{ dealer.phone }}", True), ("{% if dealer.name %}x{% endif %}", True), ("dealer 专线", False),
    ("{{ now.year }} dealer", False), ("{{ dealer.phone", False), ("{{ dealer.__class__ }}", False)])
def test_uses_dealer_reads_the_template_not_the_word(app: Any, source: str, uses: bool) -> None:
    assert keywords.uses_dealer(source) is uses
