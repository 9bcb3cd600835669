"""One Redis round trip for a push answered from memory: dispatch first, then check and commit at once.

The hot path's two trips (claim + lock + read, then store + unlock) exist so that a dispatch sees the
follower's state and no other push of theirs runs meanwhile. A push answered from memory (a keyword
reply, the help text) needs neither trip to be separate: its reply depends only on the push, the
follower's conversation, their cached profile and the content version tokens. So, when this process
has seen that follower before, it dispatches on what it last saw (`Hints`), inside an inline attempt,
and then one script (COMMIT) checks, atomically, that

* nobody has claimed the push (it is not a retry),
* nobody holds the follower's lock (no push of theirs is being dispatched elsewhere),
* they have no conversation, and their profile and every version token are what the dispatch assumed,

and only then stores the reply as the push's claim. The dispatch therefore behaves as if it ran at the
moment of the commit, under the lock. Any difference (and any need for I/O, or a dispatch that would
change the conversation or refill the profile) drops the attempt whole, before anything left the
process; the push then takes the two trips from the start, whose first trip refreshes the hints.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from scrm import metrics
from scrm.services import follower_cache

# KEYS: claim, lock, conversation, profile, version tokens...
# ARGV: reply body, claim TTL (s), profile assumed, version tokens assumed ('' = absent)...
# Returns {1} kept; {0} a retry (claim taken); {2} busy (lock held);
# {3, conversation, profile, token...} what differed from the assumption (nothing written).
COMMIT = """
if redis.call('exists', KEYS[1]) == 1 then return {0} end
if redis.call('exists', KEYS[2]) == 1 then return {2} end
local conv = redis.call('get', KEYS[3])
local profile = redis.call('get', KEYS[4])
local same = conv == false and profile == ARGV[3]
local out = {3, conv, profile}
for i = 5, #KEYS do
  local token = redis.call('get', KEYS[i])
  out[i - 1] = token
  if (token or '') ~= ARGV[i - 1] then same = false end
end
if not same then return out end
redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
return {1}
"""
KEPT, RETRY, BUSY, CONFLICT = 1, 0, 2, 3
MAX_FOLLOWERS = 20_000
REASONS = ("unseen", "conversation", "needs_io", "error", "changes", "retry", "busy", "conflict")
_MISSED = {reason: metrics.WEBHOOK_ONE_TRIP_MISSED.labels(reason=reason) for reason in REASONS}


def missed(reason: str) -> None:
    """Count a push that could not be answered in one trip, by why."""
    _MISSED[reason].inc()


@dataclass(frozen=True, slots=True)
class Seen:
    """What the last trip to Redis showed of one follower."""

    profile_raw: str
    in_conversation: bool


class Hints:
    """What this process last saw in Redis: followers' profiles and conversations, and version tokens.

    A hint is only ever an assumption that COMMIT checks, so a stale one costs a trip, never a wrong
    reply. Followers are kept up to MAX_FOLLOWERS per account; beyond that the longest unseen quarter
    is forgotten.
    """

    def __init__(self, limit: int = MAX_FOLLOWERS) -> None:
        self.limit = limit
        self._followers: dict[str, Seen] = {}
        self._tokens: dict[str, str | None] = {}  # None: seen absent

    def follower(self, openid: str) -> Seen | None:
        """The follower as last seen, or None."""
        return self._followers.get(openid)

    def tokens(self, keys: tuple[str, ...]) -> dict[str, str | None] | None:
        """The version tokens as last seen (None for one seen absent), or None when one was never seen."""
        seen = self._tokens
        try:
            return {key: seen[key] for key in keys}
        except KeyError:
            return None

    def saw(self, openid: str, profile_raw: str | None, conv_raw: str | None,
            tokens: dict[str, str | None] | None = None) -> None:
        """Record what a trip read (a profile that is absent or stale is not worth assuming)."""
        if tokens:
            self._tokens.update(tokens)
        followers = self._followers
        followers.pop(openid, None)  # re-inserted last: the dict's order is the order of last sight
        if profile_raw is None or follower_cache.decode(profile_raw) is None:  # absent, stale, unreadable
            return
        if len(followers) >= self.limit:
            for old in list(itertools.islice(followers, max(1, self.limit // 4))):
                followers.pop(old, None)  # another thread may have dropped it meanwhile
        followers[openid] = Seen(profile_raw, conv_raw is not None)

    def clear(self) -> None:
        """Forget everything."""
        self._followers.clear()
        self._tokens.clear()
