"""The outbox end to end: enqueue, the checks before sending, the channel, outcomes, reports."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from scrm import db, runtime
from scrm.db import utcnow
from scrm.models import Channel, Delivery, DeliveryStatus, Follower
from scrm.outbox import policy
from scrm.outbox.claim import claim
from scrm.outbox.enqueue import enqueue
from scrm.outbox.reaper import reap
from scrm.outbox.results import record_mass_result, record_template_result
from scrm.outbox.worker import drain, run_worker
from scrm.sandbox import state as sandbox
from scrm.services.accounts import account_id
from scrm.wechat.client import api_for
from tests.factories import make_follower
from tests.integration.outbox_helpers import (
    BlackHole,
    account_at,
    all_deliveries,
    closed_port,
    override_settings,
    reload_delivery,
    seed_token,
    with_outbox,
)

pytestmark = pytest.mark.integration
TEXT = {"msgtype": "text", "text": {"content": "您的爱车已完成保养，欢迎取车。"}}


@pytest.fixture
def app_id(live_server: Any, app_ctx: Any, settings: Any) -> str:
    return str(settings.accounts["demo"].app_id)


@pytest.fixture
def template(app_id: str) -> dict[str, Any]:
    tid = sandbox.add_template(app_id, "保养完成通知", "车辆：{{thing1.DATA}}\n状态：{{thing2.DATA}}")
    return {"template_id": tid, "url": "https://dealer.example.com/",
            "data": {"thing1": {"value": "沪A12345"}, "thing2": {"value": "已完成"}}}


def follower(app_id: str, *, kind: str = "message", wx_interaction: str | None = "message",
             wx_subscribed: bool = True, **kw: Any) -> Follower:
    """A follower in our database and on the fake platform."""
    kw.setdefault("interaction_kind", kind)
    f = make_follower(**kw)
    sandbox.add_follower(app_id, f.openid, subscribed=wx_subscribed, interaction=wx_interaction)
    return f


def put(f: Follower | None, channel: Channel, payload: dict[str, Any], *, key: str, purpose: str = "reply",
        **kw: Any) -> int:
    with db.transaction() as s:
        row_id = enqueue(s, account_id=account_id("demo"), dedupe_key=key, channel=channel, payload=payload,
                         follower_id=f.id if f else None, openid=f.openid if f else "", purpose=purpose, **kw)
    assert row_id is not None
    return row_id


def test_writing_the_same_dedupe_key_twice_is_a_no_op(app_id: str) -> None:
    f = follower(app_id)
    with db.transaction() as s:
        first = enqueue(s, account_id=account_id("demo"), dedupe_key="journey:7:1:f1", channel=Channel.CUSTOM,
                        payload=TEXT, follower_id=f.id, openid=f.openid)
        second = enqueue(s, account_id=account_id("demo"), dedupe_key="journey:7:1:f1", channel=Channel.CUSTOM,
                         payload={"msgtype": "text", "text": {"content": "different"}}, follower_id=f.id)
    assert first is not None and second is None
    rows = all_deliveries()
    assert len(rows) == 1 and rows[0].payload == TEXT
    assert drain() == 1
    assert len(sandbox.messages_for(app_id, f.openid)) == 1


def test_claim_takes_at_most_limit_rows_oldest_first(app_id: str) -> None:
    f = follower(app_id)
    ids = [put(f, Channel.CUSTOM, TEXT, key=f"claim-{i}") for i in range(12)]
    first = claim(5, "w-a")
    second = claim(5, "w-b")
    assert [r.id for r in first] == ids[:5]
    assert [r.id for r in second] == ids[5:10]
    assert all(r.attempts == 1 for r in first + second)
    rows = {r.id: r for r in all_deliveries()}
    assert {rows[i].claimed_by for i in ids[:5]} == {"w-a"}
    assert [rows[i].status for i in ids[10:]] == [DeliveryStatus.PENDING] * 2


def test_custom_message_is_sent_and_counted(app_id: str) -> None:
    f = follower(app_id)
    row_id = put(f, Channel.CUSTOM, TEXT, key="c1")
    assert drain() == 1
    row = reload_delivery(row_id)
    assert (row.status, row.channel_used, row.attempts, row.error) == (DeliveryStatus.SENT, "custom", 1, "")
    assert row.sent_at is not None
    assert [m["body"]["content"] for m in sandbox.messages_for(app_id, f.openid)] == [TEXT["text"]["content"]]
    assert db.session.get(Follower, f.id).cs_sent_since_interaction == 1  # type: ignore[union-attr]
    assert drain() == 0                                   # nothing left; nothing resent


def test_auto_outside_the_window_falls_back_to_the_template(app_id: str, template: dict[str, Any]) -> None:
    f = follower(app_id, wx_interaction=None, last_interaction_at=utcnow() - timedelta(days=3))
    row_id = put(f, Channel.AUTO, {"custom": TEXT, "template": template}, key="a1")
    drain()
    row = reload_delivery(row_id)
    assert row.status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)
    assert row.channel_used == "template" and row.wechat_msgid
    msgs = sandbox.messages_for(app_id, f.openid)
    assert [m["via"] for m in msgs] == ["template"]
    assert str(msgs[0]["msgid"]) == row.wechat_msgid


def test_auto_uses_the_template_when_wechat_says_the_window_is_closed(app_id: str, template: dict[str, Any]) -> None:
    # We believe the window is open, WeChat knows better (45015): the template still reaches them.
    f = follower(app_id, wx_interaction=None)
    row_id = put(f, Channel.AUTO, {"custom": TEXT, "template": template}, key="a2")
    drain()
    row = reload_delivery(row_id)
    assert row.channel_used == "template"
    assert [m["via"] for m in sandbox.messages_for(app_id, f.openid)] == ["template"]


def test_auto_without_template_outside_the_window_is_skipped(app_id: str) -> None:
    f = follower(app_id, wx_interaction=None, last_interaction_at=utcnow() - timedelta(days=3))
    row_id = put(f, Channel.AUTO, {"custom": TEXT}, key="a3")
    drain()
    row = reload_delivery(row_id)
    assert (row.status, row.error) == (DeliveryStatus.SKIPPED, "window closed")
    assert sandbox.messages_for(app_id, f.openid) == []


def test_unsubscribed_follower_is_skipped(app_id: str) -> None:
    f = follower(app_id, subscribed=False)
    row_id = put(f, Channel.CUSTOM, TEXT, key="u1")
    drain()
    row = reload_delivery(row_id)
    assert (row.status, row.error) == (DeliveryStatus.SKIPPED, "unsubscribed")
    assert sandbox.messages_for(app_id, f.openid) == []


def test_marketing_respects_opt_out_but_replies_do_not(app_id: str) -> None:
    f = follower(app_id, opt_out_marketing=True)
    promo = put(f, Channel.CUSTOM, TEXT, key="m1", purpose="campaign")
    answer = put(f, Channel.CUSTOM, {"msgtype": "text", "text": {"content": "reply"}}, key="m2", purpose="reply")
    drain()
    assert reload_delivery(promo).status == DeliveryStatus.SKIPPED
    assert reload_delivery(answer).status == DeliveryStatus.SENT
    assert [m["body"]["content"] for m in sandbox.messages_for(app_id, f.openid)] == ["reply"]


def test_quiet_hours_reschedule_marketing_to_the_end_of_the_window(app_id: str) -> None:
    tz = ZoneInfo("Asia/Shanghai")
    local_now = datetime.now(tz)
    spec = f"{local_now.hour:02d}:00-{(local_now.hour + 2) % 24:02d}:00"
    expected = policy.quiet_until(utcnow(), spec, tz)
    assert expected is not None
    f = follower(app_id)
    promo = put(f, Channel.CUSTOM, TEXT, key="q1", purpose="campaign")
    answer = put(f, Channel.CUSTOM, {"msgtype": "text", "text": {"content": "reply"}}, key="q2")
    with override_settings(outbox=with_outbox(quiet_hours=spec).outbox):
        assert drain() == 2
    row = reload_delivery(promo)
    assert (row.status, row.attempts, row.error) == (DeliveryStatus.PENDING, 0, "quiet hours")
    assert row.next_try_at == expected
    assert reload_delivery(answer).status == DeliveryStatus.SENT
    assert [m["body"]["content"] for m in sandbox.messages_for(app_id, f.openid)] == ["reply"]


def test_quota_exhausted_pauses_the_api_until_reset(app_id: str, template: dict[str, Any]) -> None:
    sandbox.set_quota(app_id, "template_send", 0)
    f1, f2, f3 = follower(app_id), follower(app_id), follower(app_id)
    t1 = put(f1, Channel.TEMPLATE, template, key="t1")
    t2 = put(f2, Channel.TEMPLATE, template, key="t2", send_after=utcnow() + timedelta(minutes=5))
    c3 = put(f3, Channel.CUSTOM, TEXT, key="c3")
    drain()
    reset = policy.next_quota_reset(utcnow())
    first = reload_delivery(t1)
    assert (first.status, first.attempts, first.error_code) == (DeliveryStatus.PENDING, 0, 45009)
    assert first.next_try_at == reset
    assert reload_delivery(t2).next_try_at == reset          # parked too: no pointless calls
    assert reload_delivery(c3).status == DeliveryStatus.SENT  # other APIs keep going
    paused = policy.paused_until(account_id("demo"), "template")
    assert paused is not None and abs((paused - reset).total_seconds()) < 1
    calls_before = sandbox.app(app_id).counters.copy()
    assert drain() == 0                                        # the worker does not loop on them
    assert sandbox.app(app_id).counters == calls_before


def test_a_paused_api_defers_rows_without_calling(app_id: str, template: dict[str, Any]) -> None:
    f = follower(app_id)
    until = utcnow() + timedelta(hours=2)
    policy.pause(account_id("demo"), "template", until, "test")
    row_id = put(f, Channel.TEMPLATE, template, key="p1")
    drain()
    row = reload_delivery(row_id)
    assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 0)
    assert abs((row.next_try_at - until).total_seconds()) < 1
    assert sandbox.messages_for(app_id, f.openid) == []


def test_crash_mid_call_is_marked_unknown_and_never_resent(app_id: str) -> None:
    f = follower(app_id)
    row_id = put(f, Channel.CUSTOM, TEXT, key="crash")
    [claimed] = claim(10, "crashed-worker")                   # claimed, then the process died
    assert claimed.id == row_id
    lease = runtime.get().settings.outbox.lease_seconds
    assert reap() == 0                                         # still within its lease
    with db.transaction() as s:
        s.execute(sa.update(Delivery).where(Delivery.id == row_id)
                  .values(claimed_at=utcnow() - timedelta(seconds=lease + 1)))
    assert run_worker(once=True, name="next-worker") == 0      # reaps at start, sends nothing
    row = reload_delivery(row_id)
    assert row.status == DeliveryStatus.UNKNOWN
    assert "lease expired" in row.error
    assert sandbox.messages_for(app_id, f.openid) == []
    assert drain() == 0


def test_wechat_says_not_following_marks_the_follower(app_id: str) -> None:
    f = follower(app_id, wx_subscribed=False, wx_interaction=None)
    row_id = put(f, Channel.CUSTOM, TEXT, key="gone")
    drain()
    row = reload_delivery(row_id)
    assert (row.status, row.error_code) == (DeliveryStatus.FAILED, 43004)
    fresh = db.session.get(Follower, f.id)
    assert fresh is not None and fresh.subscribed is False and fresh.unsubscribed_at is not None


def test_invalid_openid_fails(app_id: str) -> None:
    f = make_follower(interaction_kind="message")             # unknown to the platform
    row_id = put(f, Channel.CUSTOM, TEXT, key="bad-openid")
    drain()
    row = reload_delivery(row_id)
    assert (row.status, row.error_code) == (DeliveryStatus.FAILED, 40003)


def test_invalid_payload_fails_without_a_call(app_id: str) -> None:
    f = follower(app_id)
    row_id = put(f, Channel.TEMPLATE, {"data": {}}, key="bad-payload")
    drain()
    row = reload_delivery(row_id)
    assert (row.status, row.result) == (DeliveryStatus.FAILED, "invalid_payload")


def _unreachable(settings: Any) -> Any:
    acc = account_at(settings.accounts["demo"], f"http://127.0.0.1:{closed_port()}")
    seed_token(acc, "seeded")
    return {**settings.accounts, "demo": acc}


def test_network_failure_before_sending_is_retried_with_backoff(app_id: str, settings: Any) -> None:
    f = follower(app_id)
    row_id = put(f, Channel.CUSTOM, TEXT, key="retry")
    with override_settings(accounts=_unreachable(settings)):
        drain()
    row = reload_delivery(row_id)
    assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 1)
    assert 25 < (row.next_try_at - utcnow()).total_seconds() <= 30
    assert row.claimed_by == ""


def test_gives_up_after_max_attempts(app_id: str, settings: Any) -> None:
    f = follower(app_id)
    row_id = put(f, Channel.CUSTOM, TEXT, key="give-up")
    max_attempts = runtime.get().settings.outbox.max_attempts
    with db.transaction() as s:
        s.execute(sa.update(Delivery).where(Delivery.id == row_id).values(attempts=max_attempts - 1))
    with override_settings(accounts=_unreachable(settings)):
        drain()
    row = reload_delivery(row_id)
    assert row.status == DeliveryStatus.FAILED and row.error.startswith(f"gave up after {max_attempts} attempts")


def test_a_send_that_times_out_is_unknown_and_not_resent(app_id: str, settings: Any) -> None:
    f = follower(app_id)
    row_id = put(f, Channel.CUSTOM, TEXT, key="timeout")
    with BlackHole() as hole:
        acc = account_at(settings.accounts["demo"], hole.url)
        seed_token(acc, "seeded")
        with override_settings(accounts={**settings.accounts, "demo": acc}):
            drain()
            assert drain() == 0
        assert hole.accepted == 1
    row = reload_delivery(row_id)
    assert row.status == DeliveryStatus.UNKNOWN and row.error.startswith("outcome unknown")


def test_template_report_updates_the_row(app_id: str, template: dict[str, Any]) -> None:
    f = follower(app_id)
    sandbox.set_webhook(app_id, f"http://127.0.0.1:{closed_port()}/nowhere")   # we deliver the report ourselves
    row_id = put(f, Channel.TEMPLATE, template, key="report")
    drain()
    row = reload_delivery(row_id)
    assert row.status == DeliveryStatus.SENT and row.wechat_msgid
    aid = account_id("demo")
    assert record_template_result(aid, row.wechat_msgid, "success") is True
    assert reload_delivery(row_id).status == DeliveryStatus.DELIVERED
    assert record_template_result(aid, row.wechat_msgid, "failed:user block") is True
    row = reload_delivery(row_id)
    assert (row.status, row.result) == (DeliveryStatus.FAILED, "user_block")
    assert record_template_result(aid, row.wechat_msgid, "failed: system failed") is True
    assert reload_delivery(row_id).result == "system_failed"
    assert record_template_result(aid, "999999", "success") is False
    assert record_template_result(aid + 1, row.wechat_msgid, "success") is False


def test_templatesendjobfinish_through_the_webhook_marks_delivered(app_id: str, template: dict[str, Any]) -> None:
    f = follower(app_id)
    row_id = put(f, Channel.TEMPLATE, template, key="webhook-report")
    drain()
    deadline = time.monotonic() + 5
    while reload_delivery(row_id).status != DeliveryStatus.DELIVERED and time.monotonic() < deadline:
        time.sleep(0.1)
    row = reload_delivery(row_id)
    assert (row.status, row.result) == (DeliveryStatus.DELIVERED, "success")


def test_mass_report_stores_counts(app_id: str) -> None:
    with db.transaction() as s:
        s.add(Delivery(account_id=account_id("demo"), dedupe_key="mass-1", channel=Channel.MASS, purpose="campaign",
                       payload={"tag_id": 100, "msgtype": "text", "text": {"content": "x"}},
                       status=DeliveryStatus.SENT, channel_used="mass", wechat_msgid="1000001",
                       next_try_at=datetime.now(UTC)))
    aid = account_id("demo")
    counts = {"TotalCount": 100, "FilterCount": 98, "SentCount": 97, "ErrorCount": 1}
    assert record_mass_result(aid, "1000001", "send success", counts) is True
    [row] = all_deliveries()
    assert row.status == DeliveryStatus.DELIVERED
    assert row.result == '{"total":100,"filter":98,"sent":97,"error":1}'
    assert record_mass_result(aid, "1000001", "err(30003)", counts) is True
    [row] = all_deliveries()
    assert (row.status, row.error_code) == (DeliveryStatus.FAILED, 30003)
    assert record_mass_result(aid, "404", "send success", counts) is False


def test_mass_send_by_tag_and_its_report(app_id: str, settings: Any) -> None:
    fs = [follower(app_id) for _ in range(3)]
    api = api_for(settings.accounts["demo"])
    tag_id = api.create_tag("车主俱乐部")
    api.tag_users(tag_id, [f.openid for f in fs[:2]])
    row_id = put(None, Channel.MASS, {"tag_id": tag_id, "msgtype": "text", "text": {"content": "周末试驾会"}},
                 key="mass:1", purpose="campaign")
    drain()
    row = reload_delivery(row_id)
    assert row.status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)
    assert row.channel_used == "mass" and row.wechat_msgid
    assert [len(sandbox.messages_for(app_id, f.openid)) for f in fs] == [1, 1, 0]
    deadline = time.monotonic() + 5
    while reload_delivery(row_id).status != DeliveryStatus.DELIVERED and time.monotonic() < deadline:
        time.sleep(0.1)
    row = reload_delivery(row_id)
    assert row.status == DeliveryStatus.DELIVERED
    assert row.result == '{"total":2,"filter":2,"sent":2,"error":0}'
