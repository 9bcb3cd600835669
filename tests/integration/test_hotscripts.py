"""The hot path's scripts on a connection of each thread's own: same replies, and recovery when Redis drops it."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from scrm import runtime
from scrm.wechat.hotscripts import Pinned, Script

pytestmark = pytest.mark.integration
ECHO = "redis.call('incr', KEYS[1]) return {ARGV[1], redis.call('get', KEYS[1]), redis.call('get', KEYS[2])}"


@pytest.fixture
def redis(app: Any) -> Any:
    return runtime.get().redis


@pytest.fixture
def key(redis: Any) -> Any:
    name = runtime.get().key("test-hot", uuid.uuid4().hex)
    yield name
    redis.delete(name)


def test_a_script_answers_as_redis_py_does(redis: Any, key: str) -> None:
    script = Script(redis, ECHO)
    assert script([key, key + ":none"], ["中文"]) == ["中文", "1", None]
    assert redis.evalsha(script.sha, 2, key, key + ":none", "x") == ["x", "2", None]


def test_each_thread_keeps_its_own_connection(redis: Any, key: str) -> None:
    pinned = Pinned(redis)
    if not pinned.enabled:
        pytest.skip("the in-process Redis stand-in has no connections to keep: its commands go through its client")
    seen: list[Any] = []

    def run() -> None:
        for _ in range(3):
            pinned.execute("INCR", key)
            seen.append((threading.get_ident(), id(pinned._local.conn)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert int(redis.get(key)) == 6
    by_thread: dict[int, set[int]] = {}
    for ident, conn in seen:
        by_thread.setdefault(ident, set()).add(conn)
    assert len(by_thread) == 2 and all(len(conns) == 1 for conns in by_thread.values())
    assert len({next(iter(c)) for c in by_thread.values()}) == 2


def _killed(redis: Any, pinned: Pinned) -> int:
    client_id = pinned.execute("CLIENT", "ID")
    assert redis.execute_command("CLIENT", "KILL", "ID", client_id) == 1
    time.sleep(0.05)  # the close reaches our socket
    return int(client_id)


def test_an_idle_connection_redis_closed_is_replaced_before_the_command(redis: Any, key: str) -> None:
    pinned = Pinned(redis)
    if not pinned.enabled:
        pytest.skip("the in-process Redis stand-in has no connections to drop")
    pinned.idle_check_s = 0.0
    assert pinned.execute("INCR", key) == 1
    client_id = _killed(redis, pinned)
    assert pinned.execute("INCR", key) == 2
    assert pinned.execute("CLIENT", "ID") != client_id


def test_a_reply_lost_with_its_connection_is_an_error_and_the_next_command_gets_a_new_one(redis: Any,
                                                                                          key: str) -> None:
    pinned = Pinned(redis)
    if not pinned.enabled:
        pytest.skip("the in-process Redis stand-in has no connections to drop")
    pinned.idle_check_s = 3600.0  # no check: the command goes out on the closed connection
    assert pinned.execute("INCR", key) == 1
    client_id = _killed(redis, pinned)
    with pytest.raises(RedisConnectionError):
        pinned.execute("INCR", key)
    assert pinned.execute("INCR", key) == 2   # the lost one never reached Redis: counted once
    assert pinned.execute("CLIENT", "ID") != client_id


def test_a_script_redis_forgot_is_sent_again(redis: Any, key: str) -> None:
    script = Script(redis, ECHO)
    assert script([key, key], ["a"])[1] == "1"
    redis.script_flush()
    assert script([key, key], ["b"]) == ["b", "2", "2"]
    assert script([key, key], ["c"]) == ["c", "3", "3"]


def test_a_forked_child_does_not_use_the_connection_it_inherited(redis: Any, key: str) -> None:
    import os

    pinned = Pinned(redis)
    if not pinned.enabled:
        pytest.skip("the in-process Redis stand-in has no connections to inherit")
    mine = pinned.execute("CLIENT", "ID")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child, as a gunicorn worker forked from its master
        try:
            os.write(write, str(pinned.execute("CLIENT", "ID")).encode())
        finally:
            os._exit(0)
    os.close(write)
    theirs = os.read(read, 32).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert theirs and int(theirs) != mine
    assert pinned.execute("CLIENT", "ID") == mine  # the parent's own is untouched


def test_the_socket_blocks_with_the_timeout_in_the_kernel_and_a_silent_redis_is_an_error(redis: Any) -> None:
    import socket
    import struct

    import redis as redis_lib

    settings = runtime.get().settings
    if settings.redis.url.startswith("memory://"):
        pytest.skip("the in-process Redis stand-in has no sockets")
    client = redis_lib.Redis.from_url(settings.redis.url, socket_timeout=0.2, decode_responses=True)
    pinned = Pinned(client)
    assert pinned.execute("PING") == "PONG"
    sock = pinned._local.conn._sock
    assert sock.gettimeout() is None  # no poll() before each send and receive
    seconds, micros = struct.unpack("ll", sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16))
    assert (seconds, micros) == (0, 200000)
    redis.execute_command("CLIENT", "PAUSE", 700, "ALL")
    with pytest.raises(RedisConnectionError):
        pinned.execute("PING")  # the kernel gave up after 0.2 s: the connection is dropped, not left out of step
    time.sleep(0.8)
    assert pinned.execute("ECHO", "again") == "again"
    client.close()
