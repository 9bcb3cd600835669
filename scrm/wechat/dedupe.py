"""Retries: WeChat re-sends a push up to 3 times; the first claims it, the others get its reply.

`SET NX EX` on `<prefix>:seen:<appid>:<dedupe_id>`: the first request stores a pending marker, then
the reply body (plaintext XML or `success`). A retry that finds the marker waits a bounded time for
the reply, then answers `success`; it never runs the message a second time.
"""

from __future__ import annotations

import time

import redis as redis_lib

from scrm.wechat.replies import SUCCESS

PENDING = "\x00pending"
TTL_SECONDS = 300
WAIT_SECONDS = 4.0
_POLL = 0.05


class Deduper:
    """Claims pushes and remembers their replies in Redis."""

    def __init__(self, redis: redis_lib.Redis, prefix: str, ttl: int = TTL_SECONDS) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl = ttl

    def key(self, app_id: str, dedupe_id: str) -> str:
        """The Redis key of one push."""
        return f"{self.prefix}:seen:{app_id}:{dedupe_id}"

    def claim(self, app_id: str, dedupe_id: str) -> bool:
        """True for the first arrival of this push; False for a retry."""
        return bool(self.redis.set(self.key(app_id, dedupe_id), PENDING, nx=True, ex=self.ttl))

    def remember(self, app_id: str, dedupe_id: str, body: str) -> None:
        """Store the reply body that retries of this push will get."""
        self.redis.set(self.key(app_id, dedupe_id), body, ex=self.ttl)

    def release(self, app_id: str, dedupe_id: str) -> None:
        """Forget a claim whose processing failed, so WeChat's retry can run it."""
        self.redis.delete(self.key(app_id, dedupe_id))

    def reply_for_retry(self, app_id: str, dedupe_id: str, wait: float = WAIT_SECONDS) -> str | None:
        """The first arrival's reply body, waiting up to `wait` s while it runs; None if it gave up."""
        deadline = time.monotonic() + wait
        key = self.key(app_id, dedupe_id)
        while True:
            value = self.redis.get(key)
            if value is None:
                return None  # the first failed and released its claim: this arrival may run it
            if value != PENDING:
                return str(value)
            if time.monotonic() >= deadline:
                return SUCCESS
            time.sleep(_POLL)
