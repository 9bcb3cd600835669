"""Write-behind of push bookkeeping: rows arrive after the flush, nothing is lost or counted twice."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db, metrics, runtime
from scrm.db import utcnow
from scrm.models import Direction, Follower, KeywordReply, MessageLog
from scrm.services import bookkeeping, writebehind
from scrm.services.accounts import account_id
from scrm.services.bookkeeping import Entry
from scrm.services.writebehind import WriteBehind
from tests import wechat_xml as wx
from tests.factories import make_follower, make_keyword
from tests.integration.webhook_support import follower, logs

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
OPENID = "oWriteBehind0000000000000001"


@pytest.fixture
def write_behind(app: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], None]]:
    """Switch this process to write-behind with the given interval (ms); flushed and undone afterwards."""
    def use(interval_ms: int) -> None:
        writebehind.shutdown()
        monkeypatch.setattr(runtime.get(), "settings", dataclasses.replace(
            settings, app=dataclasses.replace(settings.app, write_behind_ms=interval_ms)))

    yield use
    writebehind.shutdown()


def _count(model: Any, *where: Any) -> int:
    with db.transaction() as s:
        return int(s.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


def _hits(reply_id: int) -> int:
    with db.transaction() as s:
        return int(s.scalar(sa.select(KeywordReply.hits).where(KeywordReply.id == reply_id)) or 0)


def _eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def test_the_reply_does_not_wait_and_the_rows_appear_after_the_flush(client: Any, settings: Any,
                                                                     write_behind: Any) -> None:
    write_behind(1000)
    kw = make_keyword("保养", "保养请预约")
    make_follower(openid=OPENID, last_interaction_at=utcnow() - timedelta(days=3))
    acc = settings.accounts["demo"]
    wx.post(client, "demo", wx.text_msg(OPENID, "你好"), acc)  # warms the follower's cached profile
    writebehind.writer().flush()
    before = follower(OPENID).last_interaction_at  # type: ignore[union-attr]
    status, body = wx.post(client, "demo", wx.text_msg(OPENID, "保养"), acc)
    assert status == 200 and wx.reply_fields(body)["Content"] == "保养请预约"
    # Answered before anything was written: the flush comes up to a second later.
    assert _count(MessageLog, MessageLog.content == "保养") == 0
    assert writebehind.writer().pending() == 1
    assert _eventually(lambda: _count(MessageLog, MessageLog.content == "保养") == 1)
    f = follower(OPENID)
    assert f is not None and f.last_interaction_at > before and f.interaction_kind == "message"  # type: ignore[operator]
    out = [r for r in logs("out") if r.content == "保养请预约"]
    assert len(out) == 1 and out[0].follower_id == f.id and out[0].handler == "keywords.auto_reply"
    assert _hits(kw.id) == 1


def _entries(acc: int, n: int, openids: int, reply_id: int, tag: str) -> list[Entry]:
    now = utcnow()
    return [Entry(account_id=acc, openid=f"oBurst{i % openids:05d}{tag}", at=now + timedelta(microseconds=i),
                  kind="message", is_message=True, hits=[reply_id],
                  logs=[{"account_id": acc, "follower_id": None, "direction": Direction.IN.value, "msg_type": "text",
                         "event": "", "content": f"{tag}{i}", "msg_id": str(i), "handler": "", "created_at": now}])
            for i in range(n)]


def test_a_burst_larger_than_the_buffer_loses_nothing(app: Any) -> None:
    kw = make_keyword("爆发", "x")
    acc = account_id("demo")
    lost_before = metrics.WRITE_BEHIND_LOST._value.get()
    writer = WriteBehind(50, batch=20, capacity=40)
    entries = _entries(acc, 1200, 37, kw.id, "b")
    most_buffered = [0]

    def submit(part: list[Entry]) -> None:
        for e in part:
            writer.submit(e)
            most_buffered[0] = max(most_buffered[0], writer.pending())

    threads = [threading.Thread(target=submit, args=(entries[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    writer.close()
    assert most_buffered[0] <= 40  # bounded: full buffers were written by the submitting threads
    assert _count(MessageLog) == 1200
    assert _count(Follower) == 37
    assert _hits(kw.id) == 1200
    assert metrics.WRITE_BEHIND_LOST._value.get() == lost_before


_CHILD = """
import json, os, sys
sys.path.insert(0, {root!r})
from scrm import runtime
from scrm.config import settings_from_dict
from scrm.services import writebehind
from tests.integration.test_write_behind import _entries
runtime.init(settings_from_dict(json.loads(os.environ["WB_SETTINGS"])))
for e in _entries(int(os.environ["WB_ACCOUNT"]), 600, 50, int(os.environ["WB_REPLY"]), os.environ["WB_TAG"]):
    writebehind.submit(e)
# no explicit flush: the exit hook must write what is buffered
"""


def test_two_processes_at_once_neither_deadlock_nor_double_count(app: Any, settings_dict: dict[str, Any]) -> None:
    kw = make_keyword("并发", "x")
    raw = json.loads(json.dumps(settings_dict))
    raw["app"]["write_behind_ms"] = 50
    env = dict(os.environ, WB_SETTINGS=json.dumps(raw), WB_ACCOUNT=str(account_id("demo")), WB_REPLY=str(kw.id),
               WB_TAG="p")  # same tag: both processes touch the same 50 followers
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD.format(root=str(ROOT))], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    results = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err.decode()
        assert b"lost" not in err, err.decode()
    assert _count(MessageLog) == 1200
    assert _count(Follower) == 50
    assert _hits(kw.id) == 1200


def test_a_late_entry_never_moves_time_back_nor_undoes_an_unfollow(app: Any) -> None:
    acc = account_id("demo")
    now = utcnow()
    f = make_follower(openid=OPENID, subscribed=False, unsubscribed_at=now, last_interaction_at=now,
                      interaction_kind="click", cs_sent_since_interaction=2)
    bookkeeping.write([Entry(account_id=acc, openid=OPENID, at=now - timedelta(seconds=1), kind="message",
                             is_message=True)])
    db.session.remove()  # forget the factory's object: read what the database holds
    with db.transaction() as s:
        row = s.get(Follower, f.id)
        assert row is not None and not row.subscribed
        assert row.last_interaction_at == now and row.interaction_kind == "click"
        assert row.cs_sent_since_interaction == 2
        assert row.last_message_at == now - timedelta(seconds=1)  # the message did happen
    later = now + timedelta(seconds=1)
    bookkeeping.write([Entry(account_id=acc, openid=OPENID, at=later, kind="message", is_message=True)])
    db.session.remove()
    with db.transaction() as s:
        row = s.get(Follower, f.id)
        assert row is not None and row.subscribed and row.last_interaction_at == later
        assert row.interaction_kind == "message" and row.cs_sent_since_interaction == 0


def test_a_follower_first_seen_through_messages_is_created_exactly_once(app: Any, live_server: Any,
                                                                        settings: Any, write_behind: Any) -> None:
    write_behind(50)
    make_keyword("你好", "您好！")
    acc = settings.accounts["demo"]
    newcomer = "oNewcomer00000000000000000001"
    xmls = [wx.text_msg(newcomer, "你好") for _ in range(6)]
    results: list[tuple[int, str]] = []
    threads = [threading.Thread(target=lambda x=x: results.append(wx.post(live_server.url, "demo", x, acc)))
               for x in xmls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(status for status, _ in results) == [200] * 6
    assert all(wx.reply_fields(body)["Content"] == "您好！" for _, body in results)
    writebehind.writer().flush()
    assert _eventually(lambda: _count(MessageLog) == 12)
    assert _count(Follower, Follower.openid == newcomer) == 1
    ids = {r.follower_id for r in logs()}
    assert ids == {follower(newcomer).id}  # type: ignore[union-attr]


def test_a_touch_of_a_known_follower_writes_no_index(app: Any) -> None:
    """The batch touch updates only columns no index holds, so PostgreSQL updates the row heap-only (HOT):
    none of the followers table's indexes gets an entry per push (migration 0004)."""
    if not db.is_postgres():
        pytest.skip("heap-only updates are PostgreSQL's; SQLite has no such counter")
    acc = account_id("demo")
    f = make_follower(openid=OPENID, subscribed=True)
    start = utcnow()
    entries = [[Entry(account_id=acc, openid=OPENID, at=start + timedelta(seconds=i), kind=kind,
                      is_message=kind == "message")] for i, kind in enumerate(["message", "click", "message", "scan"])]
    oid = sa.text("'followers'::regclass")
    counters = sa.select(sa.func.pg_stat_get_xact_tuples_updated(oid), sa.func.pg_stat_get_xact_tuples_hot_updated(oid))
    with db.engine().begin() as conn:  # the write's own statements on one connection, to read its counters
        # The counters may still hold this backend's earlier, not yet reported transactions: compare.
        before = conn.execute(counters).one()
        for batch in entries:
            rows = bookkeeping._touch_rows(batch)
            ids = [r.id for r in conn.execute(bookkeeping._upsert("postgresql"),
                                               bookkeeping._columns(rows, bookkeeping._TOUCH))]
            assert ids == [f.id]
        after = conn.execute(counters).one()
    assert (after[0] - before[0], after[1] - before[1]) == (4, 4)  # four updates, all heap-only
    db.session.remove()
    with db.transaction() as s:
        row = s.get(Follower, f.id)
        assert row is not None and row.last_interaction_at == start + timedelta(seconds=3)
        assert row.interaction_kind == "scan"
