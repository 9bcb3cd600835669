"""A GCRA rate limiter held in Redis: one atomic Lua script, the clock taken from Redis itself.

Every worker on every machine asks the same key, so the account's rate holds however many workers
run. GCRA keeps one number per key, the theoretical arrival time (TAT) of the next request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from scrm import runtime

# KEYS[1]: the TAT key. ARGV: emission interval (microseconds), burst (requests), slots wanted.
# Takes up to ARGV[3] free slots (recording them): returns {granted, microseconds to wait when none was}.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local free = math.floor((now + interval * burst - tat) / interval)
if free < 1 then
  return {0, tat + interval - interval * burst - now}
end
local granted = math.min(free, want)
local new_tat = tat + granted * interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {granted, 0}
"""

_scripts: dict[tuple[int, str], tuple[object, object]] = {}


def _script(source: str) -> Any:
    rt = runtime.get()
    cached = _scripts.get((id(rt.redis), source))
    if cached is None or cached[0] is not rt.redis:
        cached = _scripts[(id(rt.redis), source)] = (rt.redis, rt.redis.register_script(source))
    return cached[1]


def _interval_us(rate_per_second: float) -> int:
    return max(1, int(1_000_000 / max(rate_per_second, 0.001)))


class Stopped(Exception):
    """The caller asked to stop while waiting for a slot."""


def try_acquire(name: str, rate_per_second: float, burst: int) -> float:
    """Take one slot if free; return 0.0, or the seconds to wait before trying again."""
    return try_acquire_many(name, rate_per_second, burst, 1)[1]


def try_acquire_many(name: str, rate_per_second: float, burst: int, want: int) -> tuple[int, float]:
    """Take up to `want` free slots at once: (how many were taken, seconds to wait when none was)."""
    key = runtime.get().key("rate", name)
    granted, wait_us = _script(_GCRA)(keys=[key], args=[_interval_us(rate_per_second), max(1, int(burst)),
                                                            max(1, int(want))])
    return int(granted), int(wait_us) / 1_000_000


def acquire(name: str, rate_per_second: float, burst: int, *,
            should_stop: Callable[[], bool] | None = None, sleep: Callable[[float], None] = time.sleep) -> float:
    """Wait for a slot; return the seconds waited. Raises Stopped if `should_stop` turns true."""
    waited = 0.0
    while True:
        wait = try_acquire(name, rate_per_second, burst)
        if wait <= 0:
            return waited
        if should_stop and should_stop():
            raise Stopped()
        # Sleep in short steps so a stop request is noticed quickly.
        step = min(wait, 0.5)
        sleep(step)
        waited += step


def account_limiter_name(account_id: int) -> str:
    """The limiter key of one account: every API call of the account shares its rate."""
    return f"account:{account_id}"


class Slots:
    """Rate slots for one batch of `rows` sends, taken from the shared limiter a few at a time.

    Each round trip to Redis takes up to `burst` slots (never more than the batch still needs), so a fast
    account pays one script call per burst instead of one per message, and the rate still holds: GCRA
    grants a group only as its slots fall due. Threads share the slots; one of them asks Redis at a time.
    A slot taken but not used (a stop request, an aborted batch) is lost: the rate can only run under.
    """

    def __init__(self, name: str, rate_per_second: float, burst: int, rows: int) -> None:
        self._name, self._rate, self._burst = name, rate_per_second, max(1, int(burst))
        self._needed = rows
        self._credit = 0
        self._lock = threading.Lock()

    def take(self, *, should_stop: Callable[[], bool] | None = None,
             sleep: Callable[[float], None] = time.sleep) -> float:
        """Wait for one slot; return the seconds waited. Raises Stopped if `should_stop` turns true."""
        waited = 0.0
        with self._lock:
            while self._credit <= 0:
                granted, wait = try_acquire_many(self._name, self._rate, self._burst,
                                                 max(1, min(self._needed, self._burst)))
                if granted:
                    self._credit += granted
                    break
                if should_stop and should_stop():
                    raise Stopped()
                step = min(wait, 0.5)
                sleep(step)
                waited += step
            self._credit -= 1
            self._needed -= 1
        return waited
