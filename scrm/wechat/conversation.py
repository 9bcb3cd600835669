"""Conversation state: named states (`group:step`), one JSON value per follower with a TTL, and the
per-follower lock that is taken before the state is read (aiogram's rule).

Two stores share one contract (tested by the same test): `RedisConversationStore` for every real
process and `MemoryConversationStore` for unit tests.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import redis as redis_lib

LOCK_TIMEOUT = 10.0
LOCK_WAIT = 3.0


class Busy(Exception):
    """Another request of the same follower holds the lock."""


class State:
    """One step of a StateGroup; its name is `group:step`."""

    def __init__(self) -> None:
        self.owner: type[StateGroup] | None = None
        self.step = ""

    def __set_name__(self, owner: type[StateGroup], name: str) -> None:
        self.owner, self.step = owner, name

    @property
    def name(self) -> str:
        """The stored name, e.g. "booking:pick_time"."""
        if self.owner is None:
            raise RuntimeError("State used outside a StateGroup")
        return f"{self.owner.group}:{self.step}"

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<State {self.name}>"


class StateGroup:
    """A declared conversation: `class Booking(StateGroup): pick_time = State()`."""

    group: ClassVar[str] = ""

    def __init_subclass__(cls, group: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.group = group or cls.__name__.lower()
        if ":" in cls.group:
            raise ValueError("a state group name cannot contain ':'")

    @classmethod
    def states(cls) -> tuple[State, ...]:
        """Every State declared on the group."""
        return tuple(v for v in vars(cls).values() if isinstance(v, State))


def group_of(state: str) -> str:
    """The group part of a stored state name."""
    return state.split(":", 1)[0]


@dataclass
class Conversation:
    """A follower's conversation: the current state and the draft data; empty means none."""

    state: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    changed: bool = field(default=False, compare=False)

    def enter(self, state: State | str, **data: Any) -> None:
        """Move to `state`, merging `data` into the draft."""
        self.state = state.name if isinstance(state, State) else state
        self.data.update(data)
        self.changed = True

    def update(self, **data: Any) -> None:
        """Merge `data` into the draft."""
        self.data.update(data)
        self.changed = True

    def clear(self) -> None:
        """End the conversation and drop the draft."""
        self.state, self.data, self.changed = "", {}, True

    def is_empty(self) -> bool:
        """True when there is nothing to keep."""
        return not self.state and not self.data

    def in_group(self, group: type[StateGroup] | str) -> bool:
        """True when the current state belongs to `group`."""
        name = group if isinstance(group, str) else group.group
        return bool(self.state) and group_of(self.state) == name

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps({"state": self.state, "data": self.data}, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | None) -> Conversation:
        """Load a stored value; anything unreadable is an empty conversation."""
        if not raw:
            return cls()
        try:
            doc = json.loads(raw)
        except ValueError:
            return cls()
        if not isinstance(doc, dict):
            return cls()
        state, data = doc.get("state"), doc.get("data")
        return cls(state=state if isinstance(state, str) else "", data=data if isinstance(data, dict) else {})


class ConversationStore(Protocol):
    """Where conversations live; one store per official account."""

    def load(self, openid: str) -> Conversation:
        """The follower's conversation (empty if none or expired)."""

    def save(self, openid: str, conv: Conversation) -> None:
        """Store it with a fresh TTL; an empty conversation is deleted."""

    def lock(self, openid: str, wait: float = LOCK_WAIT) -> Any:
        """A context manager holding the follower's lock; raises Busy if not taken within `wait` s."""


_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class RedisConversationStore:
    """Conversations in Redis at `<prefix>:conv:<appid>:<openid>`, locks at `<prefix>:lock:conv:...`.

    Two round trips per push: taking the lock also fetches the conversation (one pipeline), and a
    save made while holding the lock is written together with the release (another pipeline).
    """

    def __init__(self, redis: redis_lib.Redis, prefix: str, app_id: str, ttl_seconds: float) -> None:
        self.redis, self.prefix, self.app_id = redis, prefix, app_id
        self.ttl_ms = max(1, int(ttl_seconds * 1000))
        self._release = redis.register_script(_RELEASE)
        self._held = threading.local()  # openid -> [prefetched raw value, pending write or _UNSET]

    def key(self, openid: str) -> str:
        """The conversation's key."""
        return f"{self.prefix}:conv:{self.app_id}:{openid}"

    def lock_key(self, openid: str) -> str:
        """The key of the follower's lock."""
        return f"{self.prefix}:lock:conv:{self.app_id}:{openid}"

    def _holding(self) -> dict[str, list[Any]]:
        held = getattr(self._held, "map", None)
        if held is None:
            held = self._held.map = {}
        return held

    def load(self, openid: str) -> Conversation:
        """The follower's conversation (empty if none or expired)."""
        slot = self._holding().get(openid)
        raw = slot[0] if slot is not None else self.redis.get(self.key(openid))
        return Conversation.from_json(raw if isinstance(raw, str) else None)

    def save(self, openid: str, conv: Conversation) -> None:
        """Store it with a fresh TTL; an empty conversation is deleted."""
        value = None if conv.is_empty() else conv.to_json()
        slot = self._holding().get(openid)
        if slot is not None:
            slot[0] = slot[1] = value  # written with the release
        elif value is None:
            self.redis.delete(self.key(openid))
        else:
            self.redis.set(self.key(openid), value, px=self.ttl_ms)
        conv.changed = False

    @contextmanager
    def lock(self, openid: str, wait: float = LOCK_WAIT) -> Iterator[None]:
        """Hold the follower's lock (it expires after 10 s should the holder die)."""
        token = uuid.uuid4().hex
        deadline = time.monotonic() + wait
        while True:
            pipe = self.redis.pipeline(transaction=False)
            pipe.set(self.lock_key(openid), token, nx=True, px=int(LOCK_TIMEOUT * 1000))
            pipe.get(self.key(openid))
            acquired, raw = pipe.execute()
            if acquired:
                break
            if time.monotonic() >= deadline:
                raise Busy(openid)
            time.sleep(0.02)
        held = self._holding()
        held[openid] = [raw, _UNSET]
        try:
            yield
        finally:
            pending = held.pop(openid)[1]
            pipe = self.redis.pipeline(transaction=False)
            if pending is None:
                pipe.delete(self.key(openid))
            elif pending is not _UNSET:
                pipe.set(self.key(openid), pending, px=self.ttl_ms)
            self._release(keys=[self.lock_key(openid)], args=[token], client=pipe)
            pipe.execute()


_UNSET = object()


class MemoryConversationStore:
    """The same contract in process memory (unit tests)."""

    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._values: dict[str, tuple[float, str]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def load(self, openid: str) -> Conversation:
        """The follower's conversation (empty if none or expired)."""
        item = self._values.get(openid)
        if item is None or item[0] <= time.monotonic():
            self._values.pop(openid, None)
            return Conversation()
        return Conversation.from_json(item[1])

    def save(self, openid: str, conv: Conversation) -> None:
        """Store it with a fresh TTL; an empty conversation is deleted."""
        if conv.is_empty():
            self._values.pop(openid, None)
        else:
            self._values[openid] = (time.monotonic() + self.ttl, conv.to_json())
        conv.changed = False

    @contextmanager
    def lock(self, openid: str, wait: float = LOCK_WAIT) -> Iterator[None]:
        """Hold the follower's lock."""
        with self._guard:
            lk = self._locks.setdefault(openid, threading.Lock())
        if not lk.acquire(timeout=wait):
            raise Busy(openid)
        try:
            yield
        finally:
            lk.release()
