"""Retries, the per-follower lock, the reply budget, errors: how a push flows through the gateway."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db, metrics, runtime
from scrm.models import Channel, Delivery, DeliveryStatus, Direction, MessageLog
from scrm.wechat.conversation import RedisConversationStore
from scrm.wechat.gateway import gateway_for
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import TextReply
from scrm.wechat.router import Context, Router, text
from tests import wechat_xml as wx
from tests.integration.webhook_support import deliveries, extra_router, follower, logs, snapshot

pytestmark = pytest.mark.integration
OPENID = "oFlow000000000000000000000001"


def test_the_same_subscribe_three_times_has_one_effect_and_three_identical_replies(client: Any,
                                                                                    settings: Any) -> None:
    acc = settings.accounts["demo"]
    xml = wx.subscribe(OPENID, create_time=int(time.time()))
    before = metrics.WEBHOOK_REQUESTS.labels(account="demo", outcome="dup")._value.get()
    replies = [wx.post(client, "demo", xml, acc) for _ in range(3)]
    assert [status for status, _ in replies] == [200, 200, 200]
    assert replies[0][1] == replies[1][1] == replies[2][1]
    assert "欢迎关注" in wx.reply_fields(replies[0][1])["Content"]
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(MessageLog)
                        .where(MessageLog.direction == Direction.OUT)) == 1
        assert s.scalar(sa.select(sa.func.count()).select_from(MessageLog)
                        .where(MessageLog.direction == Direction.IN)) == 1
    assert snapshot()["followers"] == 1
    assert metrics.WEBHOOK_REQUESTS.labels(account="demo", outcome="dup")._value.get() == before + 2


def test_a_retry_in_safe_mode_gets_the_same_reply_encrypted_again(client: Any, settings: Any) -> None:
    acc = settings.accounts["safe"]
    xml = wx.text_msg(OPENID, "帮助", msg_id=wx.next_msg_id())
    first, second = wx.post(client, "safe", xml, acc), wx.post(client, "safe", xml, acc)
    assert first == second and first[0] == 200
    assert len(logs("out")) == 1


def _counting_router(name: str, word: str, delay: float, calls: list[str]) -> Router:
    r = Router(name)

    @r.on(text(word))
    def slow(msg: Inbound, ctx: Context) -> TextReply:
        calls.append(msg.dedupe_id)
        time.sleep(delay)
        return TextReply(f"done {len(calls)}")

    return r


def test_a_retry_while_the_first_still_runs_waits_for_its_reply(app: Any, live_server: Any, settings: Any) -> None:
    calls: list[str] = []
    acc = settings.accounts["demo"]
    xml = wx.text_msg(OPENID, "慢一点", msg_id=wx.next_msg_id())
    results: list[tuple[int, str]] = []
    with extra_router(app, _counting_router("slow", "慢一点", 0.6, calls)):
        first = threading.Thread(target=lambda: results.append(wx.post(live_server.url, "demo", xml, acc)))
        first.start()
        time.sleep(0.2)
        retry = wx.post(live_server.url, "demo", xml, acc)
        first.join(10)
    assert calls == [xml.split("<MsgId>")[1].split("<")[0]]
    assert results[0] == retry
    assert wx.reply_fields(retry[1])["Content"] == "done 1"


def test_a_busy_follower_gets_success_and_nothing_runs(app: Any, client: Any, settings: Any) -> None:
    calls: list[str] = []
    acc = settings.accounts["demo"]
    rt = runtime.get()
    store = RedisConversationStore(rt.redis, rt.settings.redis.prefix, acc.app_id, 60)
    with extra_router(app, _counting_router("count", "数一数", 0, calls)), store.lock(OPENID):
        started = time.monotonic()
        status, body = wx.post(client, "demo", wx.text_msg(OPENID, "数一数"), acc)
        elapsed = time.monotonic() - started
        time.sleep(max(0.0, 3.3 - elapsed))  # let the worker give up on the lock (3 s)
    assert (status, body) == (200, "success")
    assert calls == []
    assert logs("out") == [] and deliveries() == []


def test_a_slow_handler_answers_success_and_its_reply_goes_to_the_outbox(app: Any, client: Any,
                                                                           settings: Any) -> None:
    calls: list[str] = []
    acc = settings.accounts["demo"]
    msg_id = wx.next_msg_id()
    xml = wx.text_msg(OPENID, "很慢", msg_id=msg_id)
    budget = settings.app.reply_budget_ms / 1000
    before = metrics.DEFERRED_REPLIES._value.get()
    with extra_router(app, _counting_router("slow", "很慢", budget + 0.8, calls)):
        started = time.monotonic()
        status, body = wx.post(client, "demo", xml, acc)
        elapsed = time.monotonic() - started
        assert (status, body) == (200, "success")
        assert budget - 0.05 <= elapsed < budget + 0.5
        retry = wx.post(client, "demo", xml, acc)          # WeChat retrying changes nothing
        assert retry == (200, "success")
        deadline = time.monotonic() + 5
        while not deliveries() and time.monotonic() < deadline:
            time.sleep(0.05)
    rows = deliveries()
    assert len(rows) == 1
    row = rows[0]
    assert row.channel == Channel.CUSTOM and row.purpose == "deferred_reply"
    assert row.status == DeliveryStatus.PENDING
    assert row.dedupe_key == f"deferred:{acc.app_id}:{msg_id}"
    assert row.payload == {"msgtype": "text", "text": {"content": "done 1"}}
    assert row.openid == OPENID and row.follower_id == follower(OPENID).id  # type: ignore[union-attr]
    assert calls == [str(msg_id)]
    assert metrics.DEFERRED_REPLIES._value.get() == before + 1


def test_a_failing_handler_gets_an_apology_not_an_empty_reply(app: Any, client: Any, settings: Any) -> None:
    r = Router("broken")

    @r.on(text("坏了"))
    def explode(msg: Inbound, ctx: Context) -> TextReply:
        raise RuntimeError("bug")

    with extra_router(app, r):
        status, body = wx.post(client, "demo", wx.text_msg(OPENID, "坏了"), settings.accounts["demo"])
    assert status == 200
    assert wx.reply_fields(body)["Content"] == "抱歉，系统开了个小差，请稍后再试。"
    assert [row.handler for row in logs("out")] == ["broken.explode"]


def test_infrastructure_failure_is_503_and_the_retry_runs(app: Any, client: Any, settings: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    acc = settings.accounts["demo"]
    xml = wx.text_msg(OPENID, "帮助", msg_id=wx.next_msg_id())
    from scrm.services import followers

    real_touch = followers.touch

    def database_down(*args: Any, **kwargs: Any) -> Any:
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(followers, "touch", database_down)
    assert wx.post(client, "demo", xml, acc)[0] == 503
    assert snapshot()["seen_keys"] == 0                      # claim released for the retry
    monkeypatch.setattr(followers, "touch", real_touch)
    status, body = wx.post(client, "demo", xml, acc)
    assert status == 200 and "再次查看本说明" in wx.reply_fields(body)["Content"]


def test_gateway_is_built_once_per_app(app: Any) -> None:
    assert gateway_for(app) is gateway_for(app)
    assert gateway_for(app).dispatcher.routers[0].name == "common"


def test_outbox_rows_cancelled_on_unsubscribe_are_not_the_deferred_one(client: Any, settings: Any) -> None:
    """Unsubscribe cancels pending rows of that follower only."""
    acc = settings.accounts["demo"]
    wx.post(client, "demo", wx.subscribe(OPENID), acc)
    wx.post(client, "demo", wx.subscribe("oOther00000000000000000000001"), acc)
    from scrm.outbox.enqueue import enqueue
    from scrm.services.accounts import account_id

    with db.transaction() as s:
        for who, key in ((OPENID, "a"), ("oOther00000000000000000000001", "b")):
            enqueue(s, account_id=account_id("demo"), dedupe_key=key, channel=Channel.CUSTOM,
                    payload={"msgtype": "text", "text": {"content": "x"}}, openid=who,
                    follower_id=follower(who).id)  # type: ignore[union-attr]
        s.execute(sa.update(Delivery).where(Delivery.dedupe_key == "b").values(status=DeliveryStatus.PENDING))
    assert wx.post(client, "demo", wx.unsubscribe(OPENID), acc) == (200, "success")
    by_key = {d.dedupe_key: d.status for d in deliveries()}
    assert by_key == {"a": DeliveryStatus.CANCELLED, "b": DeliveryStatus.PENDING}
