"""One access token per account, shared by every process through Redis.

The token comes from the stable_token endpoint (WECHAT.md 4.1), never from wechatpy (whose fetch
hard-codes WeChat's host and whose expiry lives on the instance). One process refreshes at a time
under a Redis lock; the others wait briefly and re-read what it stored.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import requests

from scrm import runtime
from scrm.config import AccountSettings
from scrm.wechat.errors import NetworkError
from scrm.wechat.http import request_json

log = logging.getLogger(__name__)

REFRESH_MARGIN_SECONDS = 300      # refresh this long before expiry (stable_token renews 5 min early)
FORCE_INTERVAL_SECONDS = 30       # WeChat allows a forced refresh at most every 30 s (and 20 a day)
LOCK_SECONDS = 10                 # the lock outlives one 3 s HTTP call with room to spare
WAIT_SECONDS = 5.0                # how long a process waits for another one's refresh
CACHE_SECONDS = 5.0               # how long the send path reuses a token without asking Redis


@dataclass(frozen=True)
class Token:
    """A token and when it stops working (unix seconds)."""

    value: str
    expires_at: float
    fetched_at: float

    def usable(self, now: float) -> bool:
        """True while WeChat still accepts it."""
        return self.expires_at > now + 1

    def fresh(self, now: float) -> bool:
        """True while no refresh is due; the margin shrinks for unusually short lifetimes."""
        margin = min(REFRESH_MARGIN_SECONDS, (self.expires_at - self.fetched_at) / 2)
        return self.expires_at - now > margin


class TokenStore:
    """The shared token of one account: `scrm:token:{appid}` holding `{token, expires_at}`."""

    def __init__(self, account: AccountSettings, session: requests.Session | None = None) -> None:
        self.account = account
        self._http = session or requests.Session()
        self._cached: tuple[str, float] | None = None   # (token, monotonic time it may be used until)

    # -- keys -----------------------------------------------------------------------------------
    def _key(self, *suffix: str) -> str:
        return runtime.get().key("token", self.account.app_id, *suffix)

    # -- reading --------------------------------------------------------------------------------
    def peek(self) -> Token | None:
        """The stored token, whatever its age, or None."""
        raw = runtime.get().redis.get(self._key())
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return Token(str(data["token"]), float(data["expires_at"]), float(data.get("fetched_at", 0)))
        except (ValueError, KeyError, TypeError):
            log.warning("discarding a malformed shared token for %s", self.account.slug)
            return None

    def get(self) -> str:
        """A token that stays valid for a while; refreshes it (once, under the lock) when due."""
        now = time.time()
        tok = self.peek()
        if tok and tok.fresh(now):
            return tok.value
        return self._refresh(force=False, stale=None).value

    def get_cached(self) -> str:
        """`get()`, remembered in this process for up to CACHE_SECONDS (the send path's token).

        A token replaced meanwhile by another process costs at most one rejected call: the caller's
        refresh after 40001 (`force_refresh`) forgets the remembered one.
        """
        now = time.monotonic()
        cached = self._cached
        if cached is not None and cached[1] > now:
            return cached[0]
        value = self.get()
        self._cached = (value, now + CACHE_SECONDS)
        return value

    def force_refresh(self, stale: str) -> str:
        """After WeChat rejected `stale`: a forced refresh, unless one happened in the last 30 s."""
        self._cached = None
        tok = self.peek()
        if tok and tok.value != stale and tok.usable(time.time()):
            return tok.value          # another process already replaced it
        return self._refresh(force=True, stale=stale).value

    def refresh_if_expiring(self, within_seconds: float) -> bool:
        """Refresh ahead of time when the token expires within `within_seconds`; True if it was fetched."""
        tok = self.peek()
        if tok and tok.expires_at - time.time() > within_seconds:
            return False
        new = self._refresh(force=False, stale=None, good_for=within_seconds)
        return tok is None or new.fetched_at != tok.fetched_at

    def expires_in(self) -> float | None:
        """Seconds until the stored token expires, or None when there is none."""
        tok = self.peek()
        return None if tok is None else tok.expires_at - time.time()

    # -- refreshing -----------------------------------------------------------------------------
    def _refresh(self, *, force: bool, stale: str | None, good_for: float | None = None) -> Token:
        rt = runtime.get()
        lock = rt.redis.lock(self._key("lock"), timeout=LOCK_SECONDS, blocking_timeout=WAIT_SECONDS)
        if not lock.acquire(blocking=True):
            # Another process is refreshing and took too long: use whatever still works.
            tok = self.peek()
            if tok and tok.usable(time.time()) and tok.value != stale:
                return tok
            raise NetworkError(None, "timed out waiting for another process to refresh the access token",
                               endpoint="stable_token")
        try:
            now = time.time()
            tok = self.peek()
            if tok and tok.value != stale and tok.usable(now):
                # Someone may have refreshed while we waited for the lock: re-check before fetching.
                if force:
                    return tok
                if (tok.fresh(now) if good_for is None else tok.expires_at - now > good_for):
                    return tok
            if force and not rt.redis.set(self._key("forced"), "1", nx=True, ex=FORCE_INTERVAL_SECONDS):
                # A forced refresh happened under 30 s ago: WeChat would refuse another one.
                if tok:
                    return tok
                force = False
            return self._fetch(force=force)
        finally:
            try:
                lock.release()
            except Exception:  # the lock expired meanwhile: nothing left to release
                log.warning("token lock for %s expired before release", self.account.slug)

    def _fetch(self, *, force: bool) -> Token:
        body: dict[str, Any] = {"grant_type": "client_credential", "appid": self.account.app_id,
                                "secret": self.account.app_secret, "force_refresh": force}
        data = request_json(self._http, "POST", self.account.api_base_url + "/cgi-bin/stable_token",
                            endpoint="stable_token", account=self.account.slug, json_body=body)
        value = str(data.get("access_token") or "")
        if not value:
            raise NetworkError(None, "stable_token answered without an access_token", endpoint="stable_token")
        expires_in = max(60, int(data.get("expires_in") or 7200))
        now = time.time()
        tok = Token(value, now + expires_in, now)
        runtime.get().redis.set(self._key(), json.dumps({"token": tok.value, "expires_at": tok.expires_at,
                                                         "fetched_at": tok.fetched_at}), ex=expires_in)
        log.info("access token for %s refreshed (force=%s, expires in %ss)", self.account.slug, force, expires_in)
        return tok


_stores: dict[tuple[int, AccountSettings], TokenStore] = {}


def store_for(account: AccountSettings) -> TokenStore:
    """The token store of an account, one per process (a forked child must not share HTTP connections)."""
    key = (os.getpid(), account)
    store = _stores.get(key)
    if store is None:
        store = _stores[key] = TokenStore(account)
    return store
