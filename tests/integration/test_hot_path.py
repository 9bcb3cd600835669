"""The webhook's hot path: no SQL once warm, and caches that never serve a stale reply."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import Dealer, Follower, MatchMode, Role
from scrm.services import follower_cache, writebehind
from scrm.services.accounts import account_id
from scrm.services.keyword_admin import KeywordInput, set_enabled, update_keyword
from scrm.services.menu import save_menu
from tests import wechat_xml as wx
from tests.factories import make_dealer, make_follower, make_keyword, make_staff

pytestmark = pytest.mark.integration
OPENID = "oHotPath00000000000000000001"


@pytest.fixture
def statements(app: Any) -> Iterator[list[str]]:
    """SQL statements run by request and dispatch threads (not by the write-behind thread)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if threading.current_thread().name != "scrm-write-behind":
            seen.append(statement)

    sa.event.listen(db.engine(), "before_cursor_execute", record)
    yield seen
    sa.event.remove(db.engine(), "before_cursor_execute", record)


def _say(client: Any, settings: Any, text: str, openid: str = OPENID) -> str:
    status, body = wx.post(client, "demo", wx.text_msg(openid, text), settings.accounts["demo"])
    assert status == 200
    return str(wx.reply_fields(body)["Content"])


def test_a_known_follower_costs_no_sql(client: Any, settings: Any, statements: list[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime.get(), "settings", dataclasses.replace(
        settings, app=dataclasses.replace(settings.app, write_behind_ms=60000)))
    try:
        make_keyword("价格", "599 元起")
        assert _say(client, settings, "价格") == "599 元起"   # first push: profile and keywords loaded
        statements.clear()
        assert _say(client, settings, "价格") == "599 元起"
        wx.post(client, "demo", wx.click(OPENID, "价格"), settings.accounts["demo"])
        assert statements == []
        assert writebehind.writer().pending() == 3  # all three pushes, none written yet
    finally:
        writebehind.shutdown()  # the buffered bookkeeping is written, not dropped
    assert sum(1 for _ in _logs_with("价格")) == 3


def _logs_with(content: str) -> list[Any]:
    from scrm.models import MessageLog

    with db.transaction() as s:
        return list(s.scalars(sa.select(MessageLog).where(MessageLog.content == content)))


def test_an_admin_edit_is_seen_by_the_very_next_push(client: Any, settings: Any) -> None:
    kw = make_keyword("营业时间", "9:00-18:00")
    admin = make_staff(role=Role.BRAND_ADMIN)
    assert _say(client, settings, "营业时间") == "9:00-18:00"
    update_keyword(admin, kw.id, KeywordInput(keyword="营业时间", text="8:30-20:00"))
    assert _say(client, settings, "营业时间") == "8:30-20:00"
    set_enabled(admin, kw.id, False)
    assert _say(client, settings, "营业时间") != "8:30-20:00"
    set_enabled(admin, kw.id, True)
    assert _say(client, settings, "营业时间") == "8:30-20:00"


def test_a_new_keyword_and_a_dealer_change_are_seen_at_once(client: Any, settings: Any) -> None:
    dealer = make_dealer(name="浦东店", phone="021-1111")
    make_follower(openid=OPENID, dealer_id=dealer.id)
    make_keyword("电话", "{{ dealer.name }} {{ dealer.phone }}", match=MatchMode.CONTAINS)
    assert _say(client, settings, "门店电话多少") == "浦东店 021-1111"
    with db.transaction() as s:
        s.get(Dealer, dealer.id).phone = "021-2222"  # type: ignore[union-attr]
    assert _say(client, settings, "门店电话多少") == "浦东店 021-2222"
    other = make_dealer(name="闵行店", phone="021-3333")
    make_keyword("电话", "闵行专线 021-3333", dealer_id=other.id, match=MatchMode.CONTAINS)
    assert _say(client, settings, "门店电话多少") == "浦东店 021-2222"  # not their dealer's row
    with db.transaction() as s:
        s.scalar(sa.select(Follower).where(Follower.openid == OPENID)).dealer_id = other.id  # type: ignore[union-attr]
    assert _say(client, settings, "门店电话多少") == "闵行专线 021-3333"


def test_a_saved_menu_is_what_typed_button_names_match_at_once(client: Any, settings: Any) -> None:
    acc = account_id("demo")
    contact = _say(client, settings, "联系门店")      # the key's own word: the dealer answer
    fallback = _say(client, settings, "找门店")        # not a button of the configured menu
    assert contact != fallback
    save_menu(acc, [{"type": "click", "name": "找门店", "key": "CONTACT_DEALER"}], None)
    assert _say(client, settings, "找门店") == contact  # the very next push, not a minute later
    save_menu(acc, [{"type": "click", "name": "门店在哪", "key": "CONTACT_DEALER"}], None)
    assert _say(client, settings, "找门店") == fallback
    assert _say(client, settings, "门店在哪") == contact


def test_a_profile_fill_that_raced_with_a_change_is_dropped(app: Any) -> None:
    redis = runtime.get().redis
    acc = account_id("demo")
    key = follower_cache.key(acc, OPENID)
    follower_cache.invalidate(acc, OPENID)
    read = redis.get(key)
    follower_cache.invalidate(acc, OPENID)  # a change committed after our read
    cas = redis.register_script(follower_cache.CAS_SCRIPT)
    assert cas(keys=[key], args=[read, follower_cache.encode(1, None, True), 60]) == 0
    assert follower_cache.decode(redis.get(key)) is None
    current = redis.get(key)
    assert cas(keys=[key], args=[current, follower_cache.encode(1, 7, True), 60]) == 1
    assert follower_cache.decode(redis.get(key)) == (1, 7, True)


def test_unfollow_and_refollow_keep_the_cached_profile_honest(client: Any, settings: Any) -> None:
    acc = settings.accounts["demo"]
    _say(client, settings, "你好")
    wx.post(client, "demo", wx.unsubscribe(OPENID), acc)
    key = follower_cache.key(account_id("demo"), OPENID)
    assert follower_cache.decode(runtime.get().redis.get(key)) is None  # marked stale by the unfollow
    _say(client, settings, "你好")
    with db.transaction() as s:
        f = s.scalar(sa.select(Follower).where(Follower.openid == OPENID))
        assert f is not None and f.subscribed  # a message after the unfollow proves they follow again
    assert follower_cache.decode(runtime.get().redis.get(key)) == (f.id, None, True)
