"""Attempt limits of the binding flow, counted in Redis with a TTL (every change is one atomic script).

- wrong verifications: at most 5 per follower and 10 per customer record in 24 hours, so nobody can
  guess a stranger's plate, neither from one account nor from many;
- mobile lookups: at most 5 distinct mobiles per follower in an hour (no enumeration of the books).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from scrm import runtime
from scrm.db import utcnow

FOLLOWER_FAILS = 5
CUSTOMER_FAILS = 10
FAIL_WINDOW_SECONDS = 24 * 3600
LOOKUPS = 5
LOOKUP_WINDOW_SECONDS = 3600

# INCR, and start the window on the first failure only (a retry after the window starts afresh).
_INCR = """
local n = redis.call('incr', KEYS[1])
if n == 1 then redis.call('expire', KEYS[1], ARGV[1]) end
return n
"""
# Remember a mobile looked up; refuse a new one once the set is full. 1 = allowed, 0 = refused.
_LOOKUP = """
if redis.call('sismember', KEYS[1], ARGV[1]) == 1 then return 1 end
if redis.call('scard', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('sadd', KEYS[1], ARGV[1])
if redis.call('ttl', KEYS[1]) < 0 then redis.call('expire', KEYS[1], ARGV[3]) end
return 1
"""


@dataclass(frozen=True)
class Standing:
    """How many wrong answers are left, and until when a lock-out lasts (None: not locked)."""

    tries_left: int
    locked_until: datetime | None


def _follower_key(follower_id: int) -> str:
    return runtime.get().key("bind", "fails", "follower", follower_id)


def _customer_key(customer_id: int) -> str:
    return runtime.get().key("bind", "fails", "customer", customer_id)


def _lookup_key(follower_id: int) -> str:
    return runtime.get().key("bind", "lookups", follower_id)


def _until(ttls: list[int]) -> datetime:
    return utcnow() + timedelta(seconds=max([t for t in ttls if t > 0] or [FAIL_WINDOW_SECONDS]))


def standing(follower_id: int, customer_id: int | None = None) -> Standing:
    """The follower's (and, when given, the record's) remaining wrong answers."""
    redis = runtime.get().redis
    keys = [_follower_key(follower_id)] + ([_customer_key(customer_id)] if customer_id is not None else [])
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.get(key)
        pipe.ttl(key)
    raw = pipe.execute()
    counts, ttls = [int(v or 0) for v in raw[0::2]], [int(t) for t in raw[1::2]]
    left = [FOLLOWER_FAILS - counts[0]] + ([CUSTOMER_FAILS - counts[1]] if len(counts) > 1 else [])
    locked = [ttl for n, ttl in zip(left, ttls, strict=True) if n <= 0]
    return Standing(tries_left=max(0, min(left)), locked_until=_until(locked) if locked else None)


def count_failure(follower_id: int, customer_id: int) -> Standing:
    """Count one wrong answer against the follower and the record; return what is left."""
    redis = runtime.get().redis
    script = redis.register_script(_INCR)
    pipe = redis.pipeline(transaction=True)
    for key in (_follower_key(follower_id), _customer_key(customer_id)):
        script(keys=[key], args=[FAIL_WINDOW_SECONDS], client=pipe)
    pipe.execute()
    return standing(follower_id, customer_id)


def forget_failures(follower_id: int) -> None:
    """A right answer clears the follower's own count (the record's count stays: it guards strangers)."""
    runtime.get().redis.delete(_follower_key(follower_id))


def allow_lookup(follower_id: int, mobile: str) -> bool:
    """True when the follower may look this mobile up (the same mobile again is always allowed)."""
    redis = runtime.get().redis
    digest = hashlib.sha256(mobile.encode()).hexdigest()[:24]
    allowed = redis.register_script(_LOOKUP)(keys=[_lookup_key(follower_id)],
                                             args=[digest, LOOKUPS, LOOKUP_WINDOW_SECONDS])
    return bool(int(allowed))
