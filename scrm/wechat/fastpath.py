"""The hot path for ordinary messages and menu clicks: two Redis round trips and, once warm, no SQL.

1. One Lua script (hotscripts.BEGIN): claim the push (`SET NX EX`), take the follower's lock
   (`SET NX PX`, random token; dropped again at once for a retry), read the conversation, the
   follower's cached profile and the content version tokens.
2. Dispatch exactly as the slow path does (same routers, same `Context`): first on the request's
   own thread, as long as it needs no I/O (scrm.inline: a keyword reply, help, a menu card from warm
   caches), else from the start on the reply budget's thread.
3. One Lua script (hotscripts.FINISH): remember the reply for retries, save the conversation if it
   changed, refill the profile if it was missing (compare-and-set), release the lock
   (compare-and-delete). Both run by EVALSHA, re-sent with EVAL after a Redis restart.
4. The bookkeeping (touch, message log, keyword hits) goes to the write-behind.

Once this process has seen the follower, a push answered from memory skips the separate first trip:
it is dispatched on what the last trip showed and committed by one checking script (onetrip.py).

A profile miss (a follower we have not cached) costs one synchronous upsert, the old `touch`.
A busy follower (lock taken) or a retry falls back to the gateway's ordinary path. Follows,
unfollows, scans, location reports and job reports never come here: they stay synchronous.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass

from scrm import inline
from scrm.config import AccountSettings, Settings
from scrm.db import utcnow
from scrm.services import content_cache, follower_cache, followers, messages, writebehind
from scrm.services.bookkeeping import Entry
from scrm.services.followers import FollowerRef
from scrm.wechat import hotscripts, onetrip
from scrm.wechat.conversation import LOCK_TIMEOUT, Conversation, RedisConversationStore
from scrm.wechat.dedupe import PENDING, Deduper
from scrm.wechat.dispatcher import Dispatcher, Outcome, log_entry
from scrm.wechat.inbound import Inbound
from scrm.wechat.replies import answer_xml, describe
from scrm.wechat.router import Context

logger = logging.getLogger(__name__)
FAST_EVENTS = frozenset({"click", "scancode_push", "scancode_waitmsg"})
_LOCK_MS = int(LOCK_TIMEOUT * 1000)
_tokens = random.Random(os.urandom(32))
os.register_at_fork(after_in_child=lambda: _tokens.seed(os.urandom(32)))  # each worker its own sequence


def eligible(msg: Inbound) -> bool:
    """Ordinary messages and menu clicks take the hot path; other events stay synchronous."""
    return msg.is_message or msg.event in FAST_EVENTS


@dataclass
class Claim:
    """What the first round trip found."""

    claimed: bool
    token: str | None                      # the lock token, None when the follower was busy
    conv_raw: str | None
    profile_raw: str | None
    versions: dict[str, str | None]


@dataclass
class Done:
    """What the dispatch produced, and what the second round trip must write."""

    outcome: Outcome | None = None
    conv: Conversation | None = None
    profile: tuple[str, str] | None = None  # (value read, value to set) for the compare-and-set
    error: Exception | None = None
    entry: Entry | None = None              # the bookkeeping, submitted once the dispatch is kept


class FastPath:
    """The hot path of one account."""

    def __init__(self, account: AccountSettings, settings: Settings, deduper: Deduper,
                 store: RedisConversationStore, dispatcher: Dispatcher) -> None:
        self.account, self.settings = account, settings
        self.deduper, self.store, self.dispatcher = deduper, store, dispatcher
        self.redis = store.redis
        pinned = hotscripts.Pinned(self.redis)
        self._begin = hotscripts.Script(self.redis, hotscripts.BEGIN, pinned)
        self._finish = hotscripts.Script(self.redis, hotscripts.FINISH, pinned)
        self._commit = hotscripts.Script(self.redis, onetrip.COMMIT, pinned)
        self.hints = onetrip.Hints()

    def one_trip(self, account_id: int, msg: Inbound) -> tuple[str | None, bool]:
        """(The reply XML of a push dispatched on the hints and kept by one COMMIT, or None to take two trips;
        whether the dispatch needed I/O, so that the two trips need not try it inline again).

        Raises when the kept push's bookkeeping cannot be handed over (its claim is released first).
        """
        seen = self.hints.follower(msg.openid)
        if seen is not None and seen.in_conversation:
            onetrip.missed("conversation")
            return None, False
        vkeys = content_cache.push_version_keys(account_id)
        tokens = self.hints.tokens(vkeys) if seen is not None else None
        if seen is None or tokens is None:
            onetrip.missed("unseen")
            return None, False
        claim = Claim(True, None, None, seen.profile_raw, tokens)
        try:
            with inline.attempt(), content_cache.snapshot(dict(tokens)):
                done = self._work(account_id, msg, claim)
        except inline.NeedsIO:
            onetrip.missed("needs_io")
            return None, True
        except Exception:  # the two trips run it again and deal with the error there
            onetrip.missed("error")
            return None, False
        outcome, conv = done.outcome, done.conv
        if outcome is None or done.profile is not None or (conv is not None and conv.changed):
            onetrip.missed("changes")
            return None, False
        xml = answer_xml(outcome.reply, msg)
        status, *found = self._commit(self._keys(account_id, msg, vkeys), [xml, self.deduper.ttl, seen.profile_raw,
                                                  *(token or "" for token in tokens.values())])
        if status == onetrip.KEPT:
            done = self._submit(done)
            if done.error is not None:
                self.release(claim, msg, unclaim=True)
                raise done.error
            return xml, False
        if status == onetrip.CONFLICT:
            conv_raw, profile_raw, *now = found
            self.hints.saw(msg.openid, profile_raw, conv_raw, dict(zip(vkeys, now, strict=True)))
        onetrip.missed({onetrip.RETRY: "retry", onetrip.BUSY: "busy"}.get(status, "conflict"))
        return None, False

    def begin(self, account_id: int, msg: Inbound) -> Claim:
        """Round trip 1: claim, lock, conversation, profile, version tokens (one script)."""
        token = f"{_tokens.getrandbits(128):032x}"  # unique, not secret: no system call per push
        vkeys = content_cache.push_version_keys(account_id)
        keys = self._keys(account_id, msg, vkeys)
        # A retry (claim taken) gets no lock: the script drops the one it took, the first arrival's business.
        claimed, locked, conv_raw, profile_raw, *tokens = self._begin(
            keys, [PENDING, self.deduper.ttl, token, _LOCK_MS])
        versions = dict(zip(vkeys, tokens, strict=True))
        self.hints.saw(msg.openid, profile_raw, conv_raw, versions)
        return Claim(bool(claimed), token if locked else None, conv_raw, profile_raw, versions)

    def _keys(self, account_id: int, msg: Inbound, vkeys: tuple[str, ...]) -> list[str]:
        """BEGIN's and COMMIT's keys: claim, lock, conversation, profile, version tokens."""
        return [self.deduper.key(self.account.app_id, msg.dedupe_id), self.store.lock_key(msg.openid),
                self.store.key(msg.openid), follower_cache.key(account_id, msg.openid), *vkeys]

    def try_inline(self, account_id: int, msg: Inbound, claim: Claim) -> Done | None:
        """The dispatch on this thread when it needs no I/O; None when it would (nothing of it is kept)."""
        try:
            with inline.attempt(), content_cache.snapshot(claim.versions):
                done = self._work(account_id, msg, claim)
        except inline.NeedsIO:
            return None
        except Exception as exc:
            return Done(error=exc)
        return self._submit(done)

    def work(self, account_id: int, msg: Inbound, claim: Claim) -> Done:
        """Dispatch under the claim (runs on the budget's worker thread); never raises."""
        try:
            with content_cache.snapshot(claim.versions):
                done = self._work(account_id, msg, claim)
        except Exception as exc:
            return Done(error=exc)
        return self._submit(done)

    @staticmethod
    def _submit(done: Done) -> Done:
        """Hand the push's bookkeeping to the write-behind (outside any inline attempt: it may write now)."""
        if done.entry is not None:
            try:
                writebehind.submit(done.entry)
            except Exception as exc:
                return Done(error=exc)
        return done

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
        return Done(outcome=Outcome(reply=outcome.reply, handler=outcome.handler, error=outcome.error,
                                    follower_id=ref.id, dealer_id=ref.dealer_id), conv=conv, profile=profile,
                    entry=entry)

    def finish(self, account_id: int, msg: Inbound, claim: Claim, done: Done, reply_body: str | None) -> None:
        """Round trip 2: remember the reply (unless None), save the conversation, refill the profile, unlock."""
        conv_op, conv_json = "", ""
        conv, outcome = done.conv, done.outcome
        if conv is not None and conv.changed and outcome is not None and not outcome.error:
            conv_op, conv_json = ("del", "") if conv.is_empty() else ("set", conv.to_json())
            conv.changed = False
        read, fill = done.profile if done.profile is not None else ("", "")
        self._finish(self._finish_keys(account_id, msg),
                     ["" if reply_body is None else "set", reply_body or "", self.deduper.ttl,
                      conv_op, conv_json, self.store.ttl_ms,
                      "" if done.profile is None else "cas", read, fill, follower_cache.TTL_SECONDS,
                      claim.token or ""])
        conv_now = claim.conv_raw if not conv_op else conv_json if conv_op == "set" else None
        # claim.versions was the dispatch's snapshot: it now also holds any token the dispatch seeded.
        self.hints.saw(msg.openid, fill if done.profile is not None else claim.profile_raw, conv_now, claim.versions)

    def release(self, claim: Claim, msg: Inbound, *, unclaim: bool = False) -> None:
        """Give up: release the lock, and the claim too when the push must run again on a retry."""
        self._finish(self._finish_keys(None, msg),
                     ["del" if unclaim else "", "", self.deduper.ttl, "", "", self.store.ttl_ms,
                      "", "", "", follower_cache.TTL_SECONDS, claim.token or ""])

    def _finish_keys(self, account_id: int | None, msg: Inbound) -> list[str]:
        # release() touches no profile; any key stands in for it (the script does not read it then).
        profile = follower_cache.key(account_id, msg.openid) if account_id is not None else self.store.key(msg.openid)
        return [self.deduper.key(self.account.app_id, msg.dedupe_id), self.store.key(msg.openid), profile,
                self.store.lock_key(msg.openid)]

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
