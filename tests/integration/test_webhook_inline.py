"""Pushes answered from memory run on the request's own thread; any I/O moves them to the budget's thread."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db, inline, metrics, runtime
from scrm.wechat.conversation import RedisConversationStore
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import TextReply
from scrm.wechat.router import Context, Router, text
from tests import wechat_xml as wx
from tests.factories import make_keyword
from tests.integration.webhook_support import extra_router, logs

pytestmark = pytest.mark.integration
OPENID = "oInline00000000000000000000001"


def dispatches(thread: str) -> float:
    return metrics.WEBHOOK_DISPATCHES.labels(thread=thread)._value.get()


def on_budget_thread() -> bool:
    return threading.current_thread().name.startswith("scrm-dispatch")


@pytest.fixture
def known(client: Any, settings: Any) -> str:
    """A follower whose profile is cached (their first push needs the database: never inline)."""
    assert wx.post(client, "demo", wx.text_msg(OPENID, "帮助"), settings.accounts["demo"])[0] == 200
    return OPENID


def say(client: Any, settings: Any, words: str) -> str:
    status, body = wx.post(client, "demo", wx.text_msg(OPENID, words), settings.accounts["demo"])
    assert status == 200
    return str(wx.reply_fields(body)["Content"])


def test_outside_an_attempt_nothing_is_refused(app: Any) -> None:
    inline.check("database")
    with inline.attempt():
        with pytest.raises(inline.NeedsIO):
            inline.check("database")
        with pytest.raises(inline.NeedsIO):
            runtime.get().redis  # noqa: B018 (the property access is the check)
    assert not inline.active()


def test_a_handler_cannot_swallow_the_move() -> None:
    with inline.attempt(), pytest.raises(inline.NeedsIO):
        try:
            db.engine()
        except Exception:  # what a careless handler writes
            pytest.fail("NeedsIO was caught as an Exception")


def test_a_keyword_reply_from_a_warm_cache_runs_on_the_request_thread(app: Any, client: Any, settings: Any,
                                                                      known: str) -> None:
    make_keyword("营业时间", "每天 8:30-18:00")
    say(client, settings, "营业时间")  # loads the account's keywords (database: budget thread)
    before = (dispatches("request"), dispatches("budget"))
    assert say(client, settings, "营业时间") == "每天 8:30-18:00"
    assert (dispatches("request"), dispatches("budget")) == (before[0] + 1, before[1])
    assert [row.content for row in logs("in")][-1] == "营业时间"  # the write-behind still logs it


def test_an_instant_handler_runs_on_the_request_thread(app: Any, client: Any, settings: Any, known: str) -> None:
    threads: list[bool] = []
    r = Router("pure")

    @r.on(text("纯内存"), instant=True)
    def pure(msg: Inbound, ctx: Context) -> TextReply:
        threads.append(on_budget_thread())
        return TextReply("ok")

    with extra_router(app, r):
        assert say(client, settings, "纯内存") == "ok"
    assert threads == [False]


def test_a_handler_not_declared_instant_runs_once_on_the_budget_thread(app: Any, client: Any, settings: Any,
                                                                        known: str) -> None:
    threads: list[bool] = []
    r = Router("plain")

    @r.on(text("普通"))
    def plain(msg: Inbound, ctx: Context) -> TextReply:
        threads.append(on_budget_thread())
        return TextReply("ok")

    with extra_router(app, r):
        before = dispatches("budget")
        assert say(client, settings, "普通") == "ok"
    assert threads == [True]
    assert dispatches("budget") == before + 1


def test_an_instant_handler_that_reaches_the_database_moves_and_its_effects_happen_once(
        app: Any, client: Any, settings: Any, known: str) -> None:
    threads: list[bool] = []
    key = runtime.get().key("test-inline", uuid.uuid4().hex)
    r = Router("cold")

    @r.on(text("冷缓存"), instant=True)
    def cold(msg: Inbound, ctx: Context) -> TextReply:
        threads.append(on_budget_thread())
        ctx.conv.update(seen=ctx.conv.data.get("seen", 0) + 1)   # changed before the I/O: must count once
        try:
            with db.transaction() as s:
                n = s.scalar(sa.text("SELECT 41 + 1"))
        except Exception:  # a careless handler: the move must get through it
            return TextReply("swallowed")
        hits = runtime.get().redis.incr(key)
        return TextReply(f"{n} {hits}")

    with extra_router(app, r):
        assert say(client, settings, "冷缓存") == "42 1"
    assert threads == [False, True]            # tried inline, moved at the query, ran once in full
    assert int(runtime.get().redis.get(key) or 0) == 1
    rt = runtime.get()
    store = RedisConversationStore(rt.redis, rt.settings.redis.prefix, settings.accounts["demo"].app_id, 60)
    assert store.load(OPENID).data == {"seen": 1}
    assert [row.content for row in logs("out")].count("42 1") == 1


def test_a_menu_key_not_declared_instant_moves_before_its_handler_runs(app: Any, client: Any, settings: Any,
                                                                      known: str) -> None:
    from handlers import menu

    threads: list[bool] = []

    def slow_key(msg: Inbound, ctx: Context) -> TextReply:
        threads.append(on_budget_thread())
        return TextReply("slow key")

    menu.HANDLERS["TEST_SLOW_KEY"] = slow_key
    try:
        status, body = wx.post(client, "demo", wx.click(OPENID, "TEST_SLOW_KEY"), settings.accounts["demo"])
    finally:
        del menu.HANDLERS["TEST_SLOW_KEY"]
    assert status == 200
    assert wx.reply_fields(body)["Content"] == "slow key"
    assert threads == [True]
