"""The GCRA limiter in Redis: burst, steady rate across threads, independent keys, stopping."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from scrm import runtime
from scrm.outbox import limiter

pytestmark = pytest.mark.integration


@pytest.fixture
def name(app: Any) -> str:
    return f"test:{uuid.uuid4().hex[:8]}"


def test_burst_then_one_per_interval(name: str) -> None:
    waits = [limiter.try_acquire(name, 10.0, 3) for _ in range(3)]
    assert waits == [0.0, 0.0, 0.0]
    wait = limiter.try_acquire(name, 10.0, 3)
    assert 0.05 < wait <= 0.1
    time.sleep(wait + 0.01)
    assert limiter.try_acquire(name, 10.0, 3) == 0.0
    assert limiter.try_acquire(name, 10.0, 3) > 0            # refused calls do not take a slot


def test_keys_are_independent(name: str) -> None:
    assert limiter.try_acquire(name, 1.0, 1) == 0.0
    assert limiter.try_acquire(name, 1.0, 1) > 0.9
    assert limiter.try_acquire(name + ":other", 1.0, 1) == 0.0


def test_the_key_expires_when_idle(name: str) -> None:
    limiter.try_acquire(name, 5.0, 2)
    ttl_ms = runtime.get().redis.pttl(runtime.get().key("rate", name))
    assert 0 < ttl_ms <= 1300


def test_threads_share_the_rate(name: str) -> None:
    rate, burst, threads, each = 50.0, 5, 8, 10
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            start.wait()
            for _ in range(each):
                limiter.acquire(name, rate, burst)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    began = time.monotonic()
    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(30)
    elapsed = time.monotonic() - began
    assert not errors
    minimum = (threads * each - burst) / rate                  # 1.5 s
    assert minimum * 0.95 <= elapsed < minimum + 1.5


def test_stop_while_waiting(name: str) -> None:
    limiter.acquire(name, 0.5, 1)
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    began = time.monotonic()
    with pytest.raises(limiter.Stopped):
        limiter.acquire(name, 0.5, 1, should_stop=stop.is_set)
    assert time.monotonic() - began < 1.5


@pytest.fixture
def in_process_redis(app: Any) -> Iterator[None]:
    rt = runtime.get()
    original = rt.redis
    rt.redis = runtime.make_redis("memory://limiter-test")
    try:
        yield
    finally:
        rt.redis = original


def test_works_on_the_in_process_redis(in_process_redis: None, name: str) -> None:
    assert limiter.try_acquire(name, 10.0, 2) == 0.0
    assert limiter.try_acquire(name, 10.0, 2) == 0.0
    assert limiter.try_acquire(name, 10.0, 2) > 0
