"""The hot path for ordinary messages and menu clicks: two Redis round trips and, once warm, no SQL.

1. One pipeline: claim the push (`SET NX EX`), take the follower's lock (`SET NX PX`, random
   token), read the conversation, the follower's cached profile and the content version tokens.
2. Dispatch exactly as the slow path does (same routers, same `Context`), under the reply budget.
3. One pipeline: remember the reply for retries, save the conversation if it changed, refill the
   profile if it was missing (compare-and-set), release the lock (compare-and-delete, EVALSHA).
4. The bookkeeping (touch, message log, keyword hits) goes to the write-behind.

A profile miss (a follower we have not cached) costs one synchronous upsert, the old `touch`.
A busy follower (lock taken) or a retry falls back to the gateway's ordinary path. Follows,
unfollows, scans, location reports and job reports never come here: they stay synchronous.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis as redis_lib

from scrm.config import AccountSettings, Settings
from scrm.db import utcnow
from scrm.services import content_cache, follower_cache, followers, messages, writebehind
from scrm.services.bookkeeping import Entry
from scrm.services.followers import FollowerRef
from scrm.wechat.conversation import _RELEASE, LOCK_TIMEOUT, Conversation, RedisConversationStore
from scrm.wechat.dedupe import PENDING, Deduper
from scrm.wechat.dispatcher import Dispatcher, Outcome, log_entry
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import describe
from scrm.wechat.router import Context

logger = logging.getLogger(__name__)
FAST_EVENTS = frozenset({"click", "scancode_push", "scancode_waitmsg"})
_LOCK_MS = int(LOCK_TIMEOUT * 1000)


def eligible(msg: Inbound) -> bool:
    """Ordinary messages and menu clicks take the hot path; other events stay synchronous."""
    return msg.is_message or msg.event in FAST_EVENTS


@dataclass
class Claim:
    """What the first pipeline found."""

    claimed: bool
    token: str | None                      # the lock token, None when the follower was busy
    conv_raw: str | None
    profile_raw: str | None
    versions: dict[str, str | None]


@dataclass
class Done:
    """What the dispatch produced, and what the second pipeline must write."""

    outcome: Outcome | None = None
    conv: Conversation | None = None
    profile: tuple[str, str] | None = None  # (value read, value to set) for the compare-and-set
    error: Exception | None = None


class _Scripts:
    """Lua scripts run by EVALSHA inside pipelines (re-sent with EVAL after a Redis restart)."""

    def __init__(self, redis: redis_lib.Redis) -> None:
        self.redis = redis
        self.source = {"release": _RELEASE, "cas": follower_cache.CAS_SCRIPT}
        self.sha: dict[str, str] = {}

    def queue(self, pipe: Any, calls: list[tuple[int, str, tuple[Any, ...]]], name: str, *args: Any) -> None:
        if name not in self.sha:
            self.sha[name] = str(self.redis.script_load(self.source[name]))
        calls.append((len(pipe.command_stack), name, args))
        pipe.evalsha(self.sha[name], 1, *args)

    def execute(self, pipe: Any, calls: list[tuple[int, str, tuple[Any, ...]]]) -> list[Any]:
        results: list[Any] = pipe.execute(raise_on_error=False)
        for index, name, args in calls:
            if isinstance(results[index], redis_lib.exceptions.NoScriptError):
                self.sha.pop(name, None)
                results[index] = self.redis.eval(self.source[name], 1, *args)
        for r in results:
            if isinstance(r, Exception):
                raise r
        return results


class FastPath:
    """The hot path of one account."""

    def __init__(self, account: AccountSettings, settings: Settings, deduper: Deduper,
                 store: RedisConversationStore, dispatcher: Dispatcher) -> None:
        self.account, self.settings = account, settings
        self.deduper, self.store, self.dispatcher = deduper, store, dispatcher
        self.redis = store.redis
        self.scripts = _Scripts(self.redis)

    def begin(self, account_id: int, msg: Inbound) -> Claim:
        """Pipeline 1: claim, lock, conversation, profile, version tokens."""
        token = os.urandom(16).hex()
        vkeys = content_cache.push_version_keys(account_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.deduper.key(self.account.app_id, msg.dedupe_id), PENDING, nx=True, ex=self.deduper.ttl)
        pipe.set(self.store.lock_key(msg.openid), token, nx=True, px=_LOCK_MS)
        pipe.get(self.store.key(msg.openid))
        pipe.get(follower_cache.key(account_id, msg.openid))
        pipe.mget(vkeys)
        claimed, locked, conv_raw, profile_raw, tokens = pipe.execute()
        versions = dict(zip(vkeys, tokens, strict=True))
        claim = Claim(bool(claimed), token if locked else None, conv_raw, profile_raw, versions)
        if locked and not claimed:
            self.release(claim, msg)  # a retry: the lock is the first arrival's business
            claim.token = None
        return claim

    def work(self, account_id: int, msg: Inbound, claim: Claim) -> Done:
        """Dispatch under the claim (runs on the budget's worker thread); never raises."""
        try:
            with content_cache.snapshot(claim.versions):
                return self._work(account_id, msg, claim)
        except Exception as exc:
            return Done(error=exc)

    def _work(self, account_id: int, msg: Inbound, claim: Claim) -> Done:
        received_at = utcnow()
        cached = follower_cache.decode(claim.profile_raw)
        profile: tuple[str, str] | None = None
        if cached is None:
            ref = followers.touch(account_id, msg.openid, kind=msg.interaction_kind, is_message=msg.is_message)
            if ref is None:  # cannot happen with create=True; keeps the types honest
                raise RuntimeError("touch returned no follower")
            profile = (claim.profile_raw or "", follower_cache.encode(ref.id, ref.dealer_id, ref.subscribed))
        else:
            fid, dealer_id, subscribed = cached
            ref = FollowerRef(id=fid, openid=msg.openid, subscribed=True, dealer_id=dealer_id)
            if not subscribed:  # a message or a click proves they follow (the write-behind records it)
                profile = (claim.profile_raw or "", follower_cache.encode(fid, dealer_id, True))
        conv = Conversation.from_json(claim.conv_raw)
        ctx = Context(account=self.account, account_id=account_id, follower=ref, conv=conv,
                      language=self.account.language, public_url=self.settings.app.public_url)
        entry = Entry(account_id=account_id, openid=msg.openid, at=received_at, kind=msg.interaction_kind,
                      is_message=msg.is_message)
        with writebehind.collecting(entry):
            outcome = self.dispatcher.dispatch(msg, ctx)
        reply_type, reply_content = describe(outcome.reply) if outcome.reply is not None else ("", "")
        entry.logs = messages.log_rows(account_id=account_id, entry=log_entry(msg), received_at=received_at,
                                       reply_type=reply_type, reply_content=reply_content, handler=outcome.handler)
        writebehind.submit(entry)
        return Done(outcome=Outcome(reply=outcome.reply, handler=outcome.handler, error=outcome.error,
                                    follower_id=ref.id, dealer_id=ref.dealer_id), conv=conv, profile=profile)

    def finish(self, account_id: int, msg: Inbound, claim: Claim, done: Done, reply_body: str | None) -> None:
        """Pipeline 2: remember the reply (unless None), save the conversation, refill the profile, unlock."""
        pipe = self.redis.pipeline(transaction=False)
        calls: list[tuple[int, str, tuple[Any, ...]]] = []
        if reply_body is not None:
            pipe.set(self.deduper.key(self.account.app_id, msg.dedupe_id), reply_body, ex=self.deduper.ttl)
        conv, outcome = done.conv, done.outcome
        if conv is not None and conv.changed and outcome is not None and not outcome.error:
            if conv.is_empty():
                pipe.delete(self.store.key(msg.openid))
            else:
                pipe.set(self.store.key(msg.openid), conv.to_json(), px=self.store.ttl_ms)
            conv.changed = False
        if done.profile is not None:
            self.scripts.queue(pipe, calls, "cas", follower_cache.key(account_id, msg.openid), *done.profile,
                               follower_cache.TTL_SECONDS)
        self.scripts.queue(pipe, calls, "release", self.store.lock_key(msg.openid), claim.token)
        self.scripts.execute(pipe, calls)

    def release(self, claim: Claim, msg: Inbound, *, unclaim: bool = False) -> None:
        """Give up: release the lock, and the claim too when the push must run again on a retry."""
        pipe = self.redis.pipeline(transaction=False)
        calls: list[tuple[int, str, tuple[Any, ...]]] = []
        if unclaim:
            pipe.delete(self.deduper.key(self.account.app_id, msg.dedupe_id))
        self.scripts.queue(pipe, calls, "release", self.store.lock_key(msg.openid), claim.token)
        self.scripts.execute(pipe, calls)

    def on_late(self, account_id: int, msg: Inbound, claim: Claim,
                defer: Callable[[Outcome], None]) -> Callable[[Done], None]:
        """What the worker does when the request stopped waiting: unlock, and queue the reply."""
        def late(done: Done) -> None:
            if done.error is not None or done.outcome is None:
                logger.error("a late dispatch failed", exc_info=done.error)
                self.release(claim, msg)
                return
            self.finish(account_id, msg, claim, done, reply_body=None)
            defer(done.outcome)
        return late
