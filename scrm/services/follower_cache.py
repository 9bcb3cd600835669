"""The follower's routing facts cached in Redis, so a push from a known follower needs no SQL.

`<prefix>:fp:<account_id>:<openid>` holds `[id, dealer_id, subscribed]` as JSON for a day. Any
committed ORM change of the follower (follow, unfollow, scan, an admin or H5 change of their
dealer) replaces it with a unique stale marker (content_cache's commit hook calls `mark_stale`),
and the webhook refills it only with a compare-and-set against the value it read before going to
the database: a fill that raced with a change is dropped instead of caching the old facts.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from scrm import runtime

TTL_SECONDS = 24 * 3600
STALE_PREFIX = "-"
# Set the profile only if the key still holds what the filler read (false = absent).
CAS_SCRIPT = """
local v = redis.call('get', KEYS[1])
if (v == false and ARGV[1] == '') or v == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0
"""


def key(account_id: int, openid: str) -> str:
    """The Redis key of a follower's cached profile."""
    return runtime.get().key("fp", account_id, openid)


def encode(follower_id: int, dealer_id: int | None, subscribed: bool) -> str:
    """The stored form."""
    return json.dumps([follower_id, dealer_id, subscribed], separators=(",", ":"))


def decode(raw: str | None) -> tuple[int, int | None, bool] | None:
    """(id, dealer_id, subscribed) from a stored value; None when absent, stale or unreadable."""
    if not raw or raw.startswith(STALE_PREFIX):
        return None
    try:
        fid, dealer_id, subscribed = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if not isinstance(fid, int) or not (dealer_id is None or isinstance(dealer_id, int)):
        return None
    return fid, dealer_id, bool(subscribed)


def mark_stale(pipe: Any, account_id: int, openid: str) -> None:
    """Queue on `pipe` the replacement of the profile by a unique stale marker."""
    pipe.set(key(account_id, openid), f"{STALE_PREFIX}{uuid.uuid4().hex}", ex=TTL_SECONDS)


def invalidate(account_id: int, openid: str) -> None:
    """Mark one follower's cached profile stale now."""
    pipe = runtime.get().redis.pipeline(transaction=False)
    mark_stale(pipe, account_id, openid)
    pipe.execute()
