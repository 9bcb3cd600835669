"""The fake WeChat's memory: in-process, thread-safe (one lock), per app id.

Read access for tests: `messages_for(app_id, openid)` (custom, template and mass messages the fake
platform delivered to that phone, in order; each `{"id", "via", "msgtype", "body", "time", ...}`) and
`menu_for(app_id)` (`{"button": [...]}` or None). Set-up helpers for tests: `add_follower`,
`interact`, `set_blocking`, `set_quota`, `add_template`, `set_webhook`, `advance` (moves the
sandbox clock forward, e.g. past the 48-hour window). `reset()` forgets everything.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from scrm.sandbox import rules
from scrm.sandbox.entities import DEALER_TEMPLATES, AppState, Follower, Grant, Template, template_id_for

LOCK = threading.RLock()
_apps: dict[str, AppState] = {}
_offset = 0.0
_seq = itertools.count(1)
_msgid_seq = itertools.count(int(time.time()) * 1000 % 9_000_000_000 + 1_000_000_000)
_generation = 0
_threads: list[threading.Thread] = []

DELIVERED_VIA = ("custom", "template", "mass")
CHAT_KEEP = 500          # entries kept per phone (a long-running demo must not grow without end)


def now() -> float:
    """The sandbox clock (real time plus whatever `advance` added)."""
    return time.time() + _offset


def advance(seconds: float) -> None:
    """Move the sandbox clock forward (tests: token expiry, the 48-hour window, code expiry)."""
    global _offset
    with LOCK:
        _offset += seconds


def day_key(ts: float | None = None) -> str:
    """The day of `ts` (default now) in Beijing time; WeChat's daily quotas reset at midnight there."""
    return time.strftime("%Y%m%d", time.gmtime((now() if ts is None else ts) + 8 * 3600))


def month_key() -> str:
    """This calendar month in Beijing time (mass-send receive limits)."""
    return time.strftime("%Y%m", time.gmtime(now() + 8 * 3600))


def next_id() -> int:
    """A process-wide increasing id (chat entries)."""
    return next(_seq)


def next_msgid() -> int:
    """A WeChat-looking message id for template and mass sends."""
    return next(_msgid_seq)


def reset() -> None:
    """Forget every account's state, undo `advance`, cancel pending pushes (tests call it per case)."""
    global _offset, _generation
    with LOCK:
        _apps.clear()
        _offset = 0.0
        _generation += 1
        pending = list(_threads)
        _threads.clear()
    for t in pending:
        t.join(2)


def app(app_id: str) -> AppState:
    """The state of one app id, created on first use with the preloaded templates."""
    with LOCK:
        st = _apps.get(app_id)
        if st is None:
            st = AppState(app_id=app_id)
            for name, title, content, example in DEALER_TEMPLATES:
                tid = template_id_for(app_id, name)
                st.templates[tid] = Template(template_id=tid, title=title, content=content, example=example)
            _apps[app_id] = st
        return st


def later(delay: float, fn: Callable[[], None]) -> None:
    """Run `fn` on a background thread after `delay` seconds, unless `reset()` happens first."""
    generation = _generation

    def run() -> None:
        """Wait, then run unless the sandbox was reset meanwhile."""
        time.sleep(delay)
        if generation == _generation:
            fn()

    t = threading.Thread(target=run, name="sandbox-push", daemon=True)
    with LOCK:
        _threads[:] = [x for x in _threads if x.is_alive()]
        _threads.append(t)
    t.start()


def prune(st: AppState) -> None:
    """Forget what can no longer matter: dead tokens, old codes, expired dedupe windows, old counters."""
    at = now()
    with LOCK:
        # expired tokens stay a day so that using one still answers 42001 rather than 40001
        st.tokens = {k: t for k, t in st.tokens.items()
                     if t.expires_at + 86400 > at and (t.revoked_at is None or t.revoked_at > at)}
        st.oauth_codes = {k: c for k, c in st.oauth_codes.items() if c.expires_at > at}
        st.oauth_tokens = {k: t for k, t in st.oauth_tokens.items() if t.expires_at > at}
        st.template_dedupe = {k: v for k, v in st.template_dedupe.items()
                              if at - v[1] < rules.TEMPLATE_DEDUPE_SECONDS}
        st.mass_clientmsgids = {k: v for k, v in st.mass_clientmsgids.items()
                                if at - v < rules.MASS_CLIENTMSGID_SECONDS}
        today = day_key()
        st.counters = {k: v for k, v in st.counters.items() if k[0] == today}


def count_call(st: AppState, api: str) -> None:
    """Count one call against today's quota for `api`; 45009 (or the API's own code) when used up."""
    with LOCK:
        key = (day_key(), api)
        limit = st.quotas.get(api, rules.DAILY_QUOTAS.get(api, 1_000_000))
        used = st.counters.get(key, 0)
        if used >= limit:
            raise rules.ApiError(rules.QUOTA_ERRCODE.get(api, 45009))
        st.counters[key] = used + 1


# --- followers and interactions -------------------------------------------------------------

def follower(st: AppState, openid: str) -> Follower | None:
    """The follower record for `openid`, if WeChat has ever seen it for this account."""
    return st.followers.get(openid)


def ensure_follower(st: AppState, openid: str, label: str = "") -> Follower:
    """The record for `openid`, created (not following) if new."""
    with LOCK:
        f = st.followers.get(openid)
        if f is None:
            f = st.followers[openid] = Follower(openid=openid, label=label)
        elif label:
            f.label = label
        return f


def subscribe(st: AppState, openid: str, *, scene: str = "ADD_SCENE_OTHERS", qr_scene: int = 0,
              qr_scene_str: str = "") -> Follower:
    """Mark `openid` as following (a follow grants 3 messages within a minute)."""
    with LOCK:
        f = ensure_follower(st, openid)
        f.subscribed = True
        f.subscribe_time = int(now())
        f.subscribe_scene, f.qr_scene, f.qr_scene_str = scene, qr_scene, qr_scene_str
        interact(st.app_id, openid, "follow")
        return f


def unsubscribe(st: AppState, openid: str) -> None:
    """Mark `openid` as no longer following; every allowance closes, tags are dropped."""
    with LOCK:
        f = ensure_follower(st, openid)
        f.subscribed = False
        f.grants.clear()
        f.tags.clear()


def interact(app_id: str, openid: str, kind: str) -> None:
    """Record a user action (message, click, follow, scan) that opens a customer-service allowance."""
    window, limit = rules.CS_GRANTS[kind]
    with LOCK:
        f = ensure_follower(app(app_id), openid)
        at = now()
        f.last_interaction_at, f.last_interaction_kind = at, kind
        slot = "message" if kind == "message" else "event"
        f.grants[slot] = Grant(kind=kind, at=at, window=window, limit=limit)


def add_follower(app_id: str, openid: str, *, subscribed: bool = True, interaction: str | None = "message",
                 scene: str = "ADD_SCENE_OTHERS", label: str = "") -> Follower:
    """Test set-up: a follower the fake platform knows, with an open 48-hour window by default."""
    with LOCK:
        st = app(app_id)
        f = ensure_follower(st, openid, label)
        if subscribed:
            subscribe(st, openid, scene=scene)
            f.grants.clear()
        if interaction:
            interact(app_id, openid, interaction)
        return f


def set_blocking(app_id: str, openid: str, blocking: bool = True) -> None:
    """Make the follower refuse template messages (TEMPLATESENDJOBFINISH then says failed:user block)."""
    with LOCK:
        ensure_follower(app(app_id), openid).blocks_templates = blocking


def set_quota(app_id: str, api: str, limit: int) -> None:
    """Override today's quota of one API (names as in rules.DAILY_QUOTAS)."""
    if api not in rules.DAILY_QUOTAS:
        raise KeyError(api)
    with LOCK:
        app(app_id).quotas[api] = limit


def add_template(app_id: str, title: str, content: str, template_id: str | None = None) -> str:
    """Add a template to the account's list; returns its id."""
    with LOCK:
        st = app(app_id)
        tid = template_id or template_id_for(app_id, f"custom-{len(st.templates)}-{title}")
        st.templates[tid] = Template(template_id=tid, title=title, content=content)
        return tid


def set_webhook(app_id: str, url: str | None) -> None:
    """Send this account's event pushes to `url` instead of the configured webhook (tests)."""
    with LOCK:
        app(app_id).webhook_url = url


# --- what the phone shows ---------------------------------------------------------------------

def record(st: AppState, openid: str, via: str, msgtype: str, body: dict[str, Any],
           **extra: Any) -> dict[str, Any]:
    """Append one entry to the phone's chat with this account and return it."""
    entry = {"id": next_id(), "via": via, "msgtype": msgtype, "body": body, "time": now(), **extra}
    with LOCK:
        entries = st.chat.setdefault(openid, [])
        entries.append(entry)
        del entries[:-CHAT_KEEP]
    return entry


def chat_for(app_id: str, openid: str, after: int = 0) -> list[dict[str, Any]]:
    """Every chat entry (the user's own, passive replies, pushes) newer than id `after`."""
    with LOCK:
        st = _apps.get(app_id)
        entries = st.chat.get(openid, []) if st else []
        return [copy.deepcopy(e) for e in entries if e["id"] > after]


def messages_for(app_id: str, openid: str) -> list[dict[str, Any]]:
    """What the fake WeChat delivered to that phone: custom, template and mass messages, in order."""
    return [e for e in chat_for(app_id, openid) if e["via"] in DELIVERED_VIA]


def menu_for(app_id: str) -> dict[str, Any] | None:
    """The menu in force (`{"button": [...]}`), or None when none was created."""
    with LOCK:
        st = _apps.get(app_id)
        if st is None or st.menu is None:
            return None
        return {"button": copy.deepcopy(st.menu)}


def followers_of(app_id: str) -> list[Follower]:
    """Every user the account has seen, in the order they appeared."""
    with LOCK:
        st = _apps.get(app_id)
        return [copy.deepcopy(f) for f in st.followers.values()] if st else []
