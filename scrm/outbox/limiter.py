"""A GCRA rate limiter held in Redis: one atomic Lua script, the clock taken from Redis itself.

Every worker on every machine asks the same key, so the account's rate holds however many workers
run. GCRA keeps one number per key, the theoretical arrival time (TAT) of the next request.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from scrm import runtime

# KEYS[1]: the TAT key. ARGV: emission interval (microseconds), burst (requests).
# Returns 0 when allowed (and records it), else the microseconds to wait before asking again.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local tolerance = interval * burst
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then
  return allow_at - now
end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return 0
"""

_scripts: dict[int, tuple[object, object]] = {}


class Stopped(Exception):
    """The caller asked to stop while waiting for a slot."""


def try_acquire(name: str, rate_per_second: float, burst: int) -> float:
    """Take one slot if free; return 0.0, or the seconds to wait before trying again."""
    rt = runtime.get()
    key = rt.key("rate", name)
    cached = _scripts.get(id(rt.redis))
    if cached is None or cached[0] is not rt.redis:
        cached = _scripts[id(rt.redis)] = (rt.redis, rt.redis.register_script(_GCRA))
    script = cached[1]
    interval = max(1, int(1_000_000 / max(rate_per_second, 0.001)))
    wait_us = int(script(keys=[key], args=[interval, max(1, int(burst))]))  # type: ignore[operator]
    return wait_us / 1_000_000


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
