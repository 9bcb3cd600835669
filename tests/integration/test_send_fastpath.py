"""The send path's shortcuts: the lean JSON post, the token reused for a few seconds, the batch's view of
quota pauses, rate slots taken a few at a time, and one-array id lists."""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import Channel, DeliveryStatus, Follower
from scrm.outbox import limiter, policy
from scrm.outbox.worker import drain
from scrm.sandbox import state as sandbox
from scrm.services.accounts import account_id
from scrm.wechat import jsonpost
from scrm.wechat.client import WeChatAPI
from scrm.wechat.errors import NetworkError, WindowClosed
from scrm.wechat.token import store_for
from tests.integration.outbox_helpers import account_at, reload_delivery, seed_token
from tests.integration.test_outbox import app_id, follower, put, template  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration
TEXT = {"msgtype": "text", "text": {"content": "您好，保养提醒"}}


class Canned:
    """A local HTTP server that answers every POST with one fixed status and body, and keeps the requests."""

    def __init__(self, status: int, body: bytes) -> None:
        outer = self
        self.requests: list[tuple[str, bytes]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append((self.path, data))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/wx"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Canned:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canned_api(app_ctx: Any, settings: Any) -> Iterator[Any]:
    def make(server: Canned) -> WeChatAPI:
        account = account_at(settings.accounts["demo"], server.url)
        seed_token(account, f"seeded-{uuid.uuid4().hex[:6]}")
        return WeChatAPI(account)
    yield make


@pytest.mark.parametrize(("status", "unknown"), [(502, False), (504, True)])
def test_http_errors_on_a_send(canned_api: Any, status: int, unknown: bool) -> None:
    with Canned(status, b"bad gateway") as server, pytest.raises(NetworkError) as exc:
        canned_api(server).send_custom("o_x", TEXT)
    assert exc.value.http_status == status and exc.value.unknown_outcome is unknown
    assert len(server.requests) == 1                      # a send is never retried


def test_a_send_answered_with_something_not_json(canned_api: Any) -> None:
    with Canned(200, b"<html>maintenance</html>") as server, pytest.raises(NetworkError, match="not JSON"):
        canned_api(server).send_custom("o_x", TEXT)


def test_the_request_is_wechats_and_errcodes_map_to_errors(canned_api: Any) -> None:
    with Canned(200, json.dumps({"errcode": 45015, "errmsg": "response out of time limit"}).encode()) as server:
        api = canned_api(server)
        with pytest.raises(WindowClosed):
            api.send_custom("o_中文", TEXT)
    path, body = server.requests[0]
    assert path == f"/wx/cgi-bin/message/custom/send?access_token={api.tokens.get()}"
    assert json.loads(body) == {"touser": "o_中文", **TEXT}
    assert "您好".encode() in body                        # UTF-8, not \\u escapes


def test_a_proxy_for_wechats_host_keeps_the_requests_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert jsonpost.pool_for("https://api.weixin.qq.com") is None
    assert jsonpost.pool_for("http://127.0.0.1:1/direct") is not None


def test_the_send_path_reuses_a_token_until_wechat_rejects_it(app_ctx: Any, settings: Any) -> None:
    account = settings.accounts["demo"]
    seed_token(account, "first-token")
    store = store_for(account)
    store.force_refresh("nothing")                        # forget whatever an earlier test left remembered
    seed_token(account, "first-token")
    assert store.get_cached() == "first-token"
    seed_token(account, "second-token")                   # another process replaced it
    assert store.get_cached() == "first-token"            # remembered for a few seconds
    assert store.force_refresh("first-token") == "second-token"   # WeChat said 40001: forget, re-read
    assert store.get_cached() == "second-token"


def test_a_quota_error_stops_the_rest_of_its_batch_without_calling(app_id: str, template: dict[str, Any]) -> None:  # noqa: F811
    sandbox.set_quota(app_id, "template_send", 1)
    rows = [put(follower(app_id), Channel.TEMPLATE, template, key=f"qb{i}") for i in range(3)]
    drain()
    first, second, third = (reload_delivery(r) for r in rows)
    assert first.status == DeliveryStatus.SENT
    assert (second.status, second.error_code) == (DeliveryStatus.PENDING, 45009)   # called, refused
    assert (third.status, third.error_code, third.error) == (DeliveryStatus.PENDING, None,
                                                             "paused: quota exhausted")   # never called
    assert third.next_try_at == second.next_try_at == policy.next_quota_reset(db.utcnow())


def test_a_batch_sees_pauses_set_by_its_process_and_the_next_batch_sees_lifts(app_id: str) -> None:  # noqa: F811
    acc = account_id("demo")
    until = db.utcnow().replace(microsecond=0) + timedelta(hours=1)
    view = policy.PauseView([(acc, "template")])
    assert view.until(acc, "template") is None
    policy.pause(acc, "template", until, "test")          # e.g. a 45009 on another send thread
    assert view.until(acc, "template") == until
    assert view.until(acc, "custom") is None
    runtime.get().redis.delete(runtime.get().key("pause", acc, "template"))   # lifted by another process
    assert view.until(acc, "template") == until           # this batch keeps its reading
    assert policy.PauseView([(acc, "template")]).until(acc, "template") is None   # the next batch does not


def test_slots_take_no_more_than_the_batch_needs(app: Any) -> None:
    name = f"test:{uuid.uuid4().hex[:8]}"
    slots = limiter.Slots(name, 10.0, 5, rows=3)
    assert [slots.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.try_acquire_many(name, 10.0, 5, 5)[0] == 2    # 3 of the burst of 5 were taken, not 5


def test_slots_hold_the_rate_across_threads(app: Any) -> None:
    name = f"test:{uuid.uuid4().hex[:8]}"
    rate, burst, threads, each = 100.0, 5, 4, 30
    slots = limiter.Slots(name, rate, burst, rows=threads * each)
    stamps: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(each):
            slots.take()
            with lock:
                stamps.append(time.monotonic())

    began = time.monotonic()
    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = max(stamps) - began
    expected = (threads * each - burst) / rate                   # the burst at once, then one per interval
    assert expected * 0.95 <= elapsed <= expected * 1.3
    assert limiter.try_acquire_many(name, rate, burst, 1)[0] == 0   # nothing left over: the TAT is ahead


def test_slots_stop_while_waiting(app: Any) -> None:
    name = f"test:{uuid.uuid4().hex[:8]}"
    slots = limiter.Slots(name, 1.0, 1, rows=5)
    slots.take()
    asked = time.monotonic()
    with pytest.raises(limiter.Stopped):
        slots.take(should_stop=lambda: time.monotonic() - asked > 0.2)
    assert time.monotonic() - asked < 0.9


def test_id_lists_as_one_array(app_ctx: Any) -> None:
    from tests.factories import make_follower

    ids = [make_follower().id for _ in range(3)]
    db.session.remove()

    def found(cond: Any) -> set[int]:
        return set(db.session.scalars(sa.select(Follower.id).where(cond, db.among(Follower.id, ids))))

    assert set(db.session.scalars(sa.select(Follower.id).where(db.among(Follower.id, ids[:2])))) == set(ids[:2])
    assert found(db.not_among(Follower.id, ids[:1])) == set(ids[1:])
    assert found(db.not_among(Follower.id, [])) == set(ids)
    assert set(db.session.scalars(sa.select(Follower.id).where(db.among(Follower.id, [])))) == set()
