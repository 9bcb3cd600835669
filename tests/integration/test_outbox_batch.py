"""The batch path of the worker: several send threads, the cap reserved per batch, outcomes recorded together."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.db import utcnow
from scrm.models import Channel, Delivery, DeliveryStatus, Follower
from scrm.outbox import batch, cap, hooks
from scrm.outbox.claim import claim, release
from scrm.outbox.outcome import Outcome, record_many
from scrm.outbox.worker import drain
from scrm.sandbox import state as sandbox
from scrm.services.accounts import account_id
from tests.factories import make_follower
from tests.integration.outbox_helpers import all_deliveries, override_settings, reload_delivery, with_outbox

pytestmark = pytest.mark.integration
TEXT = {"msgtype": "text", "text": {"content": "冬季用车请注意检查电瓶与轮胎。"}}


@pytest.fixture
def app_id(live_server: Any, app_ctx: Any, settings: Any) -> str:
    return str(settings.accounts["demo"].app_id)


def _follower(app_id: str) -> Follower:
    f = make_follower(interaction_kind="message")
    sandbox.add_follower(app_id, f.openid, subscribed=True, interaction="message")
    return f


def _put(f: Follower, key: str, *, purpose: str = "reply", payload: dict[str, Any] | None = None) -> int:
    from scrm.outbox.enqueue import enqueue

    with db.transaction() as s:
        row_id = enqueue(s, account_id=account_id("demo"), dedupe_key=key, channel=Channel.CUSTOM,
                         payload=payload or TEXT, follower_id=f.id, openid=f.openid, purpose=purpose)
    assert row_id is not None
    return row_id


def _cs_sent(follower_id: int) -> int:
    db.session.remove()
    return int(db.session.scalar(sa.select(Follower.cs_sent_since_interaction).where(Follower.id == follower_id)))


def test_many_threads_send_every_row_exactly_once(app_id: str) -> None:
    followers = [_follower(app_id) for _ in range(40)]
    ids = [_put(f, f"batch:threads:{f.id}", purpose="campaign") for f in followers]
    with override_settings(outbox=with_outbox(send_threads=4, batch_size=25, cap_count=4).outbox):
        assert drain() == 40
    rows = all_deliveries()
    assert [r.id for r in rows] == ids
    assert Counter(r.status for r in rows) == {DeliveryStatus.SENT: 40}
    assert all(r.sent_at is not None and r.capped_at is not None for r in rows)
    assert all(len(sandbox.messages_for(app_id, f.openid)) == 1 for f in followers)
    assert all(_cs_sent(f.id) == 1 for f in followers)   # the window's count, set-based per batch


def test_a_followers_rows_go_out_one_per_round_in_order(app_id: str) -> None:
    f = _follower(app_id)
    texts = [f"第{i}条" for i in range(3)]
    for i, text in enumerate(texts):   # e.g. a reply in three parts: never concurrently, never reordered
        _put(f, f"batch:order:{i}", payload={"msgtype": "text", "text": {"content": text}})
    with override_settings(outbox=with_outbox(send_threads=4).outbox):
        rows = claim(10, "w-order")
        assert len(rows) == 3
        assert batch.handle(rows, "w-order", threading.Event(), timedelta(minutes=1), threads=4) == 1
        first = all_deliveries()
        assert [r.status for r in first] == [DeliveryStatus.SENT, DeliveryStatus.PENDING, DeliveryStatus.PENDING]
        assert [r.attempts for r in first] == [1, 0, 0] and first[1].claimed_by == ""
        assert drain() == 2
    got = sandbox.messages_for(app_id, f.openid)
    assert len(got) == 3 and all(texts[i] in str(got[i]) for i in range(3))
    assert _cs_sent(f.id) == 3 and {r.attempts for r in all_deliveries()} == {1}


def test_the_cap_is_exact_inside_one_batch(app_id: str) -> None:
    f, other = _follower(app_id), _follower(app_id)
    earlier = _put(f, "batch:cap:earlier", purpose="campaign")
    with db.transaction() as s:   # one place already taken this week, by a message sent yesterday
        s.execute(sa.update(Delivery).where(Delivery.id == earlier)
                  .values(status=DeliveryStatus.SENT, capped_at=utcnow() - timedelta(days=1)))
    mine = [_put(f, f"batch:cap:{i}", purpose="campaign") for i in range(4)]
    theirs = _put(other, "batch:cap:other", purpose="campaign")
    with override_settings(outbox=with_outbox(send_threads=3, cap_count=3).outbox):
        assert drain() == 5
    status = {r.id: r.status for r in all_deliveries()}
    # Two places left for f: its two oldest rows go, in id order; the others are skipped, their places free.
    assert [status[i] for i in mine] == [DeliveryStatus.SENT, DeliveryStatus.SENT,
                                         DeliveryStatus.SKIPPED, DeliveryStatus.SKIPPED]
    assert all(reload_delivery(i).result == "capped" and reload_delivery(i).capped_at is None for i in mine[2:])
    assert status[theirs] == DeliveryStatus.SENT
    assert len(sandbox.messages_for(app_id, f.openid)) == 2


def test_reserve_many_counts_rows_of_one_follower_against_each_other(app_id: str) -> None:
    f = _follower(app_id)
    ids = [_put(f, f"batch:reserve:{i}", purpose="campaign") for i in range(3)]
    with override_settings(outbox=with_outbox(cap_count=2).outbox):
        granted = cap.reserve_many([(i, f.id) for i in reversed(ids)], utcnow())
        assert granted == set(ids[:2])
        assert cap.reserve_many([(ids[2], f.id)], utcnow()) == set()   # the two reserved count
    assert [reload_delivery(i).capped_at is not None for i in ids] == [True, True, False]


def test_a_row_failing_mid_batch_releases_it_and_the_rest_and_records_the_others(app_id: str) -> None:
    def explode(guard: dict[str, Any]) -> str:
        raise RuntimeError("a bug in a guard")

    hooks.register_guard("test_explode", explode)
    try:
        followers = [_follower(app_id) for _ in range(4)]
        ids = [_put(f, f"batch:fail:{i}", purpose="campaign") for i, f in enumerate(followers)]
        bad = {**TEXT, "guard": {"kind": "test_explode"}}
        with db.transaction() as s:
            s.execute(sa.update(Delivery).where(Delivery.id == ids[2]).values(payload=bad))
        with override_settings(outbox=with_outbox(send_threads=2).outbox), pytest.raises(RuntimeError):
            drain()
    finally:
        hooks.GUARDS.pop("test_explode", None)
    rows = {r.id: r for r in all_deliveries()}
    assert [rows[i].status for i in ids] == [DeliveryStatus.SENT, DeliveryStatus.SENT,
                                            DeliveryStatus.PENDING, DeliveryStatus.PENDING]
    assert all(rows[i].attempts == 0 and rows[i].claimed_by == "" and rows[i].capped_at is None for i in ids[2:])
    assert [len(sandbox.messages_for(app_id, f.openid)) for f in followers] == [1, 1, 0, 0]


def test_record_many_skips_a_row_the_reaper_took_and_records_the_others(app_id: str) -> None:
    f = _follower(app_id)
    ids = [_put(f, f"batch:record:{i}") for i in range(3)]
    rows = claim(10, "w-record")
    assert [r.id for r in rows] == ids
    with db.transaction() as s:   # the reaper gave up on the middle row and another worker took it since
        s.execute(sa.update(Delivery).where(Delivery.id == ids[1]).values(claimed_by="someone-else"))
    at = utcnow() - timedelta(seconds=3)
    done = [(rows[0], Outcome(DeliveryStatus.SENT, channel_used="custom", custom_sent=True, at=at)),
            (rows[1], Outcome(DeliveryStatus.SENT, channel_used="custom", custom_sent=True, at=at)),
            (rows[2], Outcome(DeliveryStatus.PENDING, counts=False, error="quiet hours",
                              next_try_at=at + timedelta(hours=1)))]
    assert record_many(done, "w-record") == {ids[0], ids[2]}
    first, middle, last = (reload_delivery(i) for i in ids)
    assert first.status == DeliveryStatus.SENT and first.sent_at == at   # when WeChat answered, not when recorded
    assert middle.status == DeliveryStatus.SENDING and middle.claimed_by == "someone-else"
    assert last.status == DeliveryStatus.PENDING and last.attempts == 0 and last.claimed_by == ""
    assert _cs_sent(f.id) == 2   # both calls went out, whoever records the middle row's outcome


def test_release_frees_the_cap_place_of_a_row_never_sent(app_id: str) -> None:
    f = _follower(app_id)
    row_id = _put(f, "batch:release", purpose="campaign")
    rows = claim(10, "w-release")
    with override_settings(outbox=with_outbox(cap_count=1).outbox):
        assert cap.reserve_many([(row_id, f.id)], utcnow()) == {row_id}
        assert release(rows, "w-release") == 1
        assert reload_delivery(row_id).capped_at is None
        other = _put(f, "batch:release:2", purpose="campaign")
        assert cap.reserve_many([(other, f.id)], utcnow()) == {other}


def test_one_send_thread_by_default() -> None:
    from scrm.config import OutboxSettings

    assert OutboxSettings().send_threads == 1   # one call in flight per worker unless configured


def test_a_batch_costs_a_few_statements_not_fifteen_per_row(app_id: str) -> None:
    followers = [_follower(app_id) for _ in range(20)]
    for f in followers:
        _put(f, f"batch:statements:{f.id}", purpose="campaign")
    calls: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        calls.append(statement.split(None, 1)[0].upper())

    sa.event.listen(db.engine(), "before_cursor_execute", count)
    try:
        with override_settings(outbox=with_outbox(send_threads=1, batch_size=20, cap_count=4).outbox):
            assert drain(imports=False) == 20
    finally:
        sa.event.remove(db.engine(), "before_cursor_execute", count)
    assert Counter(r.status for r in all_deliveries()) == {DeliveryStatus.SENT: 20}
    # Per row: its outcome's UPDATE and its follower's window count (each an executemany item); per batch:
    # the claim, the contexts, the cap (lock, count, update) and the recording's locks. Before: ~15 per row.
    per_row = len(calls) / 20
    assert per_row < 4, (per_row, Counter(calls))


def test_outcomes_from_several_threads_are_recorded_in_groups(app_id: str) -> None:
    f = _follower(app_id)
    ids = [_put(f, f"batch:group:{i}") for i in range(7)]
    rows = claim(10, "w-group")
    assert [r.id for r in rows] == ids

    def statuses() -> list[DeliveryStatus]:
        return [reload_delivery(i).status for i in ids]

    sent = Outcome(DeliveryStatus.SENT, channel_used="custom", custom_sent=True)
    sink = batch.Sink("w-group", group=3, wait=60)
    sink.add(rows[0], sent)
    sink.add(rows[1], sent)
    assert statuses() == [DeliveryStatus.SENDING] * 7          # a group is not full yet: nothing written
    sink.add(rows[2], sent)
    assert statuses()[:3] == [DeliveryStatus.SENT] * 3 and statuses()[3:] == [DeliveryStatus.SENDING] * 4
    sink.add(rows[3], sent)
    assert statuses()[3] == DeliveryStatus.SENDING
    sink.flush()                                                # the end of the batch writes the rest
    assert statuses()[:4] == [DeliveryStatus.SENT] * 4

    slow = batch.Sink("w-group", group=100, wait=0.2)          # a small group is written once it has waited
    slow.add(rows[4], sent)
    assert statuses()[4] == DeliveryStatus.SENDING
    time.sleep(0.25)
    slow.add(rows[5], sent)
    assert statuses()[4:6] == [DeliveryStatus.SENT] * 2
    single = batch.Sink("w-group")                             # one send thread: each outcome at once
    single.add(rows[6], sent)
    assert statuses()[6] == DeliveryStatus.SENT
    assert _cs_sent(f.id) == 7
