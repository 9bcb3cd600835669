"""A push answered from memory costs one Redis round trip, and a wrong assumption costs only a trip."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from scrm import db, metrics, runtime
from scrm.services import accounts, content_cache
from scrm.services.accounts import account_id
from scrm.wechat.conversation import Conversation, State, StateGroup
from scrm.wechat.gateway import gateway_for
from scrm.wechat.inbound import Inbound
from scrm.wechat.onetrip import REASONS, Hints
from scrm.wechat.replies import TextReply
from scrm.wechat.router import Context, Router, in_state
from tests import wechat_xml as wx
from tests.factories import make_keyword
from tests.integration.outbox_helpers import to_toml
from tests.integration.webhook_support import extra_router, logs

pytestmark = pytest.mark.integration
OPENID = "oOneTrip000000000000000000001"
ROOT = Path(__file__).resolve().parents[2]


def missed(reason: str) -> float:
    return metrics.WEBHOOK_ONE_TRIP_MISSED.labels(reason=reason)._value.get()


def say(client: Any, settings: Any, words: str, msg_id: int | None = None) -> str:
    status, body = wx.post(client, "demo", wx.text_msg(OPENID, words, msg_id=msg_id), settings.accounts["demo"])
    assert status == 200
    return str(wx.reply_fields(body)["Content"])


def redis_calls() -> dict[str, int]:
    """Commands Redis has run, by name (INFO commandstats; INFO itself left out)."""
    stats = runtime.get().redis.info("commandstats")
    return {name: int(v["calls"]) for name, v in stats.items() if not name.startswith("cmdstat_info")}


@pytest.fixture
def warm(client: Any, settings: Any) -> str:
    """A follower this process has seen, with the keyword set loaded."""
    make_keyword("保养价格", "小保养 599 元起")
    say(client, settings, "保养价格")  # the profile and keywords from the database (two trips)
    say(client, settings, "保养价格")  # cached now; the trips record the hints
    return OPENID


def one_push_delta(client: Any, settings: Any) -> dict[str, int]:
    """The commands Redis ran for one warm push."""
    before = redis_calls()
    assert say(client, settings, "保养价格") == "小保养 599 元起"
    after = redis_calls()
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}


def test_a_warm_push_is_one_script_and_keeps_its_effects(client: Any, settings: Any, warm: str) -> None:
    if settings.redis.url.startswith("memory://"):
        pytest.skip("the in-process Redis stand-in keeps no command statistics (INFO commandstats)")
    # One script, and inside it: claim and lock looked at, conversation, profile and three tokens read
    # (keywords, dealers, menu), the reply stored as the claim (commandstats counts a script's commands too).
    one_trip = {"cmdstat_evalsha": 1, "cmdstat_exists": 2, "cmdstat_get": 5, "cmdstat_set": 1}
    first = one_push_delta(client, settings)
    # The first COMMIT after a SCRIPT FLUSH (another test makes one) loads the script first: once.
    assert first == one_trip or first == {**one_trip, "cmdstat_script|load": 1}
    unseen = missed("unseen")
    assert one_push_delta(client, settings) == one_trip
    assert missed("unseen") == unseen
    assert [row.content for row in logs("in")][-1] == "保养价格"  # the bookkeeping still happened


def test_a_retry_of_a_push_kept_in_one_trip_gets_its_reply_and_no_second_effect(client: Any, settings: Any,
                                                                                 warm: str) -> None:
    msg_id = wx.next_msg_id()
    retries = missed("retry")
    first = say(client, settings, "保养价格", msg_id=msg_id)
    assert say(client, settings, "保养价格", msg_id=msg_id) == first == "小保养 599 元起"
    assert missed("retry") == retries + 1
    assert [row.msg_id for row in logs("in")].count(str(msg_id)) == 1


def test_an_edit_elsewhere_is_seen_by_the_next_push(app: Any, client: Any, settings: Any, warm: str) -> None:
    conflicts = missed("conflict")
    with app.app_context():
        content_cache.bump(content_cache.KEYWORDS, account_id("demo"))  # what another process's edit does
    assert say(client, settings, "保养价格") == "小保养 599 元起"
    assert missed("conflict") == conflicts + 1


class Survey(StateGroup, group="onetripsurvey"):
    ask = State()


def test_a_conversation_started_elsewhere_is_honoured(app: Any, client: Any, settings: Any, warm: str) -> None:
    r = Router("elsewhere", states=Survey)

    @r.on(in_state(Survey.ask))
    def answer(msg: Inbound, ctx: Context) -> TextReply:
        ctx.conv.clear()
        return TextReply("收到回答")

    with extra_router(app, r), app.app_context():
        store = gateway_for(app).store(settings.accounts["demo"])
        store.save(OPENID, Conversation(state=Survey.ask.name, data={}))  # another worker asked a question
        conflicts = missed("conflict")
        assert say(client, settings, "保养价格") == "收到回答"
        assert missed("conflict") == conflicts + 1
        assert store.load(OPENID).is_empty()
        assert say(client, settings, "保养价格") == "小保养 599 元起"


def test_a_busy_follower_writes_nothing_in_one_trip(app: Any, client: Any, settings: Any, warm: str) -> None:
    account = settings.accounts["demo"]
    with app.app_context():
        gw = gateway_for(app)
        fp, rt = gw.fast(account), runtime.get()
        lock = gw.store(account).lock_key(OPENID)
        rt.redis.set(lock, "someone-else", px=10_000)
        msg = Inbound(account_slug="demo", msg_type="text", openid=OPENID, to_user="gh_test",
                      create_time=int(time.time()), msg_id=str(wx.next_msg_id()), content="保养价格")
        busy = missed("busy")
        try:
            assert fp.one_trip(accounts.account_id("demo"), msg) == (None, False)
        finally:
            rt.redis.delete(lock)
        assert missed("busy") == busy + 1
        assert rt.redis.get(gw.deduper.key(account.app_id, msg.dedupe_id)) is None  # not claimed


def test_a_push_kept_in_one_trip_whose_bookkeeping_fails_is_503_and_its_retry_runs(
        app: Any, client: Any, settings: Any, warm: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlalchemy as sa

    from scrm.services import bookkeeping

    account = settings.accounts["demo"]
    msg_id = wx.next_msg_id()
    xml = wx.text_msg(OPENID, "保养价格", msg_id=msg_id)
    real_write = bookkeeping.write

    def database_down(*args: Any, **kwargs: Any) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("connection refused"))

    logged = len(logs("in"))
    misses = {reason: missed(reason) for reason in REASONS}
    monkeypatch.setattr(bookkeeping, "write", database_down)  # the write-behind is synchronous in tests
    assert wx.post(client, "demo", xml, account)[0] == 503
    assert {reason: missed(reason) for reason in REASONS} == misses  # kept by COMMIT, then failed
    with app.app_context():
        assert runtime.get().redis.get(gateway_for(app).deduper.key(account.app_id, str(msg_id))) is None
    monkeypatch.setattr(bookkeeping, "write", real_write)
    status, body = wx.post(client, "demo", xml, account)  # WeChat's retry
    assert status == 200 and wx.reply_fields(body)["Content"] == "小保养 599 元起"
    assert len(logs("in")) == logged + 1


def test_hints_are_bounded_and_never_assume_a_stale_profile() -> None:
    hints = Hints(limit=8)
    for i in range(20):
        hints.saw(f"o{i}", f"[{i},null,true]", None, {"k": "t1"})
    assert hints.follower("o0") is None and hints.follower("o19") is not None
    assert len([i for i in range(20) if hints.follower(f"o{i}")]) <= 8
    hints.saw("o19", "-stale", None)
    assert hints.follower("o19") is None
    hints.saw("o1", "[1,null,true]", '{"state":"x"}', {"k": None})
    seen = hints.follower("o1")
    assert seen is not None and seen.in_conversation
    assert hints.tokens(["k"]) == {"k": None}  # seen absent: assumed absent
    assert hints.tokens(["k", "never"]) is None


# ---- real processes -------------------------------------------------------------------------------

@pytest.fixture
def served(app: Any, settings_dict: dict[str, Any], tmp_path: Path) -> Iterator[str]:
    """`scrm web` under gunicorn: 2 worker processes over the test database and Redis."""
    import socket

    if settings_dict["redis"]["url"].startswith("memory://") or not db.is_postgres():
        pytest.skip("worker processes share no in-process Redis stand-in, and production's race needs PostgreSQL")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "web.toml"
    cfg.write_text(to_toml(settings_dict))
    env = dict(os.environ, SCRM_CONFIG=str(cfg), PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "scrm.cli", "web", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "2", "--threads", "8"], cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                requests.get(base + "/healthz", timeout=1)
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "scrm web did not come up"
                time.sleep(0.2)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


def test_the_same_push_at_once_in_two_worker_processes_has_one_effect(served: str, settings: Any) -> None:
    account = settings.accounts["demo"]
    make_keyword("保养价格", "小保养 599 元起")
    for _ in range(30):  # both workers see the follower and load the keywords
        assert wx.post(served, "demo", wx.text_msg(OPENID, "保养价格"), account)[0] == 200
    logged = len(logs("in"))
    xml = wx.text_msg(OPENID, "保养价格", msg_id=wx.next_msg_id())
    start = threading.Barrier(24)
    replies: list[tuple[int, str]] = []

    def send() -> None:
        start.wait()
        replies.append(wx.post(served, "demo", xml, account))

    threads = [threading.Thread(target=send) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(replies) == 24 and {status for status, _ in replies} == {200}
    assert {wx.reply_fields(body)["Content"] for _, body in replies} == {"小保养 599 元起"}
    assert len(logs("in")) == logged + 1
