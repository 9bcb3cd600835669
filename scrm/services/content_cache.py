"""Per-process caches of content the bot reads on every push, kept honest by version tokens in Redis.

A version is a random token at `<prefix>:ver:<kind>:<scope>` (random, not a counter, so a Redis
flush or restart can never make an old token valid again). A cache entry remembers the token it
was loaded under and is reloaded when the token differs. Readers read the token BEFORE the
database; writers commit BEFORE replacing the token, so a reload never keeps data older than the
token it is stored under. The webhook reads every token it may need in its first Redis pipeline
and installs them with `snapshot()`, so a warm push costs no extra round trip.

Every ORM commit that adds, changes or deletes a KeywordReply, a Dealer or a MenuVersion replaces the
matching token, and one that touches a Follower marks that follower's cached profile stale
(follower_cache); services that write with Core statements call `bump()` themselves.
"""

from __future__ import annotations

import itertools
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session

from scrm import runtime
from scrm.models import Dealer, Follower, KeywordReply, MenuVersion

logger = logging.getLogger(__name__)
K = TypeVar("K")
V = TypeVar("V")
KEYWORDS = "keywords"
DEALERS = "dealers"
MENU = "menu"
_local = threading.local()
_PENDING = "scrm.cache_invalidations"


_KEYS: dict[tuple[str, str, object], str] = {}       # built keys: every push asks for the same few
_PUSH_KEYS: dict[tuple[str, int], tuple[str, ...]] = {}
_MAX_KEYS = 4096


def version_key(kind: str, scope: object = "all") -> str:
    """The Redis key of a version token."""
    rt = runtime.get()
    memo = (rt.settings.redis.prefix, kind, scope)
    key = _KEYS.get(memo)
    if key is None:
        key = rt.key("ver", kind, scope)
        if len(_KEYS) < _MAX_KEYS:
            _KEYS[memo] = key
    return key


def push_version_keys(account_id: int) -> tuple[str, ...]:
    """The tokens a push of `account_id` may need (read in the webhook's first pipeline)."""
    memo = (runtime.get().settings.redis.prefix, account_id)
    keys = _PUSH_KEYS.get(memo)
    if keys is None:
        keys = (version_key(KEYWORDS, account_id), version_key(DEALERS), version_key(MENU, account_id))
        if len(_PUSH_KEYS) < _MAX_KEYS:
            _PUSH_KEYS[memo] = keys
    return keys


@contextmanager
def snapshot(values: dict[str, str | None]) -> Iterator[None]:
    """Use these token values (read with the push) in this thread instead of asking Redis."""
    previous = getattr(_local, "values", None)
    _local.values = values
    try:
        yield
    finally:
        _local.values = previous


def current(key: str) -> str:
    """The token now: from the push's snapshot, else from Redis (seeding a missing one)."""
    snap: dict[str, str | None] | None = getattr(_local, "values", None)
    if snap is not None:
        value = snap.get(key)
        if value is not None:
            return value
    pipe = runtime.get().redis.pipeline(transaction=False)
    pipe.set(key, uuid.uuid4().hex, nx=True)
    pipe.get(key)
    _, value = pipe.execute()
    if snap is not None:
        snap[key] = value
    return str(value)


def bump(kind: str, scope: object = "all") -> None:
    """Invalidate every process's cache of `kind` for `scope` (call after the commit)."""
    runtime.get().redis.set(version_key(kind, scope), uuid.uuid4().hex)


class Versioned(Generic[K, V]):
    """Values per scope, loaded by `loader(scope)` and reloaded when the scope's token changes."""

    def __init__(self, kind: str, loader: Callable[[K], V]) -> None:
        self.kind, self.loader = kind, loader
        self._items: dict[K, tuple[str, V]] = {}

    def get(self, scope: K) -> V:
        """The value for `scope`, current as of the token read with this push."""
        token = current(version_key(self.kind, scope))
        hit = self._items.get(scope)
        if hit is not None and hit[0] == token:
            return hit[1]
        value = self.loader(scope)
        self._items[scope] = (token, value)
        return value

    def peek(self, scope: K) -> V | None:
        """The value if it is loaded and current, else None (never loads)."""
        hit = self._items.get(scope)
        if hit is None or hit[0] != current(version_key(self.kind, scope)):
            return None
        return hit[1]

    def loaded(self, scope: K) -> V | None:
        """The value loaded for `scope`, current or not (never loads, never asks Redis)."""
        hit = self._items.get(scope)
        return hit[1] if hit is not None else None

    def scopes(self) -> list[K]:
        """Scopes with a loaded value."""
        return list(self._items)

    def clear(self) -> None:
        """Forget everything loaded."""
        self._items.clear()


# ---- invalidation on commit -------------------------------------------------------------------------

def _attr(obj: Any, name: str) -> Any:
    """An attribute if loaded, without triggering a lazy load inside a flush."""
    from sqlalchemy import inspect

    return inspect(obj).dict.get(name)


@event.listens_for(Session, "after_flush")
def _collect(session: Session, _ctx: Any) -> None:
    pending: set[tuple[Any, ...]] = session.info.setdefault(_PENDING, set())
    for obj in itertools.chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, KeywordReply):
            pending.add((KEYWORDS, _attr(obj, "account_id")))
        elif isinstance(obj, Dealer):
            pending.add((DEALERS, "all"))
        elif isinstance(obj, MenuVersion):
            pending.add((MENU, _attr(obj, "account_id")))
        elif isinstance(obj, Follower):
            pending.add(("follower", _attr(obj, "account_id"), _attr(obj, "openid")))


@event.listens_for(Session, "after_commit")
def _apply(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    try:
        from scrm.services import follower_cache

        rt = runtime.get()
        pipe = rt.redis.pipeline(transaction=False)
        for item in pending:
            if item[0] == "follower":
                if item[1] is not None and item[2]:
                    follower_cache.mark_stale(pipe, item[1], item[2])
            elif item[1] is not None:
                pipe.set(version_key(item[0], item[1]), uuid.uuid4().hex)
            else:
                logger.warning("changed %s without a known scope; nothing to invalidate", item[0])
        pipe.execute()
    except RuntimeError:
        return  # no runtime (migrations, scripts): no caches to keep honest
    except Exception:
        logger.exception("could not invalidate cached content after a commit")


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
