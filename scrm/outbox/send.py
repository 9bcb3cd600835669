"""Sending claimed rows: the checks before the call (a batch's data read at once), the call, its answer."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
import sqlalchemy as sa

from scrm import db, runtime
from scrm.config import AccountSettings
from scrm.db import utcnow
from scrm.models import Account, Channel, DeliveryStatus, Follower
from scrm.outbox import cap, limiter, policy
from scrm.outbox.channel import Choice, Window, choose
from scrm.outbox.claim import Claimed
from scrm.outbox.classify import MISCONFIG_PAUSE, classify
from scrm.outbox.hooks import prepare_batch, register_guard, register_renderer, render, stale
from scrm.outbox.outcome import Outcome
from scrm.security import mask_openid
from scrm.wechat.client import WeChatAPI
from scrm.wechat.errors import WeChatError, WindowClosed

__all__ = ["MISCONFIG_PAUSE", "Context", "Ready", "capped", "check", "classify", "load_contexts", "needs_place",
           "prepare_batch", "register_guard", "register_renderer", "send_ready", "send_row"]
log = logging.getLogger(__name__)
_local = threading.local()


@dataclass(frozen=True)
class Context:
    """What the checks need of a row's account and follower, read for a whole batch at once."""

    account: AccountSettings | None
    follower_found: bool
    subscribed: bool
    opt_out: bool
    openid: str
    window: Window | None


@dataclass(frozen=True)
class Ready:
    """A row that passed every check: the channel and body to send, to whom, through which account."""

    row: Claimed
    account: AccountSettings
    openid: str
    choice: Choice
    marketing: bool


def load_contexts(rows: Sequence[Claimed]) -> dict[int, Context]:
    """Each row's Context by delivery id, in one short transaction (two statements) for the batch."""
    account_ids = sorted({r.account_id for r in rows})
    follower_ids = sorted({r.follower_id for r in rows if r.follower_id is not None})
    if not rows:
        return {}
    with db.transaction() as s:
        slugs = {r.id: r.slug for r in s.execute(sa.select(Account.id, Account.slug)
                                                   .where(db.among(Account.id, account_ids)))}
        followers = {f.id: f for f in s.execute(
            sa.select(Follower.id, Follower.openid, Follower.subscribed, Follower.opt_out_marketing,
                      Follower.last_interaction_at, Follower.interaction_kind, Follower.cs_sent_since_interaction)
            .where(db.among(Follower.id, follower_ids)))} if follower_ids else {}
    settings = runtime.get().settings
    out: dict[int, Context] = {}
    for row in rows:
        slug = slugs.get(row.account_id)
        f = followers.get(row.follower_id) if row.follower_id is not None else None
        out[row.id] = Context(
            account=settings.account(slug) if slug else None, follower_found=f is not None,
            subscribed=bool(f and f.subscribed), opt_out=bool(f and f.opt_out_marketing),
            openid=row.openid or (f.openid if f else ""),
            window=Window(f.last_interaction_at, f.interaction_kind, f.cs_sent_since_interaction) if f else None)
    return out


def _check_body(channel: Channel, body: dict[str, Any]) -> str:
    """A reason the payload cannot be sent, or ''."""
    if channel == Channel.CUSTOM and not isinstance(body.get("msgtype"), str):
        return "invalid payload: a customer-service message needs msgtype"
    if channel == Channel.TEMPLATE and not (isinstance(body.get("template_id"), str)
                                            and isinstance(body.get("data"), dict)):
        return "invalid payload: a template message needs template_id and data"
    if channel == Channel.MASS and not (isinstance(body.get("tag_id"), int) and isinstance(body.get("msgtype"), str)):
        return "invalid payload: a mass send needs tag_id and msgtype"
    return ""


def _result_of(reason: str) -> str:
    """A short result code from a skip reason: 'exited: booked' -> 'exited'."""
    return reason.split(":", 1)[0].strip().replace(" ", "_")[:64] or "skipped"


def check(row: Claimed, ctx: Context, now: datetime) -> Outcome | Ready:
    """Every check before the call, and the rendering: an Outcome (not sent) or what to send.

    The frequency cap is not taken here: the caller reserves the places of every Ready marketing row.
    """
    settings = runtime.get().settings
    if ctx.account is None:
        return Outcome(DeliveryStatus.FAILED, error="the account is not configured")
    reason = stale(row)
    if reason:
        return Outcome(DeliveryStatus.SKIPPED, error=reason[:255], result="stale")
    marketing = policy.is_marketing(row.purpose)
    if row.channel != Channel.MASS:
        if row.follower_id is not None and not ctx.follower_found:
            return Outcome(DeliveryStatus.SKIPPED, error="follower not found", result="no_follower")
        if row.follower_id is not None and not ctx.subscribed:
            return Outcome(DeliveryStatus.SKIPPED, error="unsubscribed", result="unsubscribed")
        if marketing and ctx.opt_out:
            return Outcome(DeliveryStatus.SKIPPED, error="opted out of marketing", result="opt_out")
        if not ctx.openid:
            return Outcome(DeliveryStatus.FAILED, error="no openid to send to")
    if marketing:
        quiet = str(row.payload.get("quiet_hours") or settings.outbox.quiet_hours)
        quiet_end = policy.quiet_until(now, quiet, settings.app.tz)
        if quiet_end is not None:
            return Outcome(DeliveryStatus.PENDING, counts=False, next_try_at=quiet_end, error="quiet hours")
    payload = render(row)
    if isinstance(payload, str):
        return Outcome(DeliveryStatus.SKIPPED, error=payload[:255], result=_result_of(payload))
    choice = choose(row.channel, payload, ctx.window, now)
    if choice.channel is None or choice.body is None:
        return Outcome(DeliveryStatus.SKIPPED, error=choice.reason, result=choice.reason.replace(" ", "_"))
    problem = _check_body(choice.channel, choice.body)
    if problem:
        return Outcome(DeliveryStatus.FAILED, error=problem, result="invalid_payload")
    return Ready(row, ctx.account, ctx.openid, choice, marketing)


def capped() -> Outcome:
    """The outcome of a row whose follower has reached the frequency cap."""
    count, days = cap.limits()
    return Outcome(DeliveryStatus.SKIPPED, result="capped",
                   error=f"frequency cap: {count} marketing messages in {days} days reached")


def needs_place(ready: Ready) -> bool:
    """True when the row takes a place under its follower's frequency cap."""
    return ready.marketing and ready.row.follower_id is not None


def send_row(row: Claimed, should_stop: Callable[[], bool] | None = None, now: datetime | None = None) -> Outcome:
    """Check, send and classify one claimed row (nothing is written here except pauses and its cap place)."""
    now = now or utcnow()
    ready = check(row, load_contexts([row])[row.id], now)
    if isinstance(ready, Outcome):
        return ready
    if needs_place(ready) and not cap.reserve(row.id, int(row.follower_id or 0), now):
        return capped()
    return send_ready(ready, should_stop)


def _api(account: AccountSettings) -> WeChatAPI:
    """This thread's client of the account: its own HTTP session, kept alive between calls."""
    apis: dict[AccountSettings, WeChatAPI] | None = getattr(_local, "apis", None)
    if apis is None:
        apis = _local.apis = {}
    api = apis.get(account)
    if api is None:
        api = apis[account] = WeChatAPI(account)
        _environment_once(api.client._http, account.api_base_url)
    return api


def _environment_once(http: requests.Session, base_url: str) -> None:
    """Read the proxy and CA settings of the environment once for this session, not on every request.

    requests re-reads them per request when `trust_env` is on (a scan of os.environ, about as costly as
    the call itself on a fast network); every call of this session goes to `base_url`, so one read is exact.
    """
    http.proxies.update(requests.utils.get_environ_proxies(base_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and http.verify is True:
        http.verify = bundle
    http.trust_env = False


def _call(api: WeChatAPI, row: Claimed, channel: Channel, body: dict[str, Any], openid: str) -> Outcome:
    """The one WeChat call; raises WeChatError."""
    if channel == Channel.CUSTOM:
        api.send_custom(openid, body)
        return Outcome(DeliveryStatus.SENT, channel_used="custom", custom_sent=True, at=utcnow())
    if channel == Channel.TEMPLATE:
        res = api.send_template(openid, body, client_msg_id=f"scrm-{row.id}")
        return Outcome(DeliveryStatus.SENT, channel_used="template", wechat_msgid=res["msgid"], at=utcnow())
    res = api.mass_send_tag(int(body["tag_id"]), body, clientmsgid=f"scrm-{row.id}")
    return Outcome(DeliveryStatus.SENT, channel_used="mass", wechat_msgid=res["msg_id"], at=utcnow())


def send_ready(ready: Ready, should_stop: Callable[[], bool] | None = None,
               pauses: policy.PauseView | None = None, slots: limiter.Slots | None = None) -> Outcome:
    """Wait for a rate slot, make the call and classify the answer (safe to run on several threads).

    `pauses`: the batch's view of the quota pauses, `slots`: its share of the account's rate (else Redis
    is asked for this row alone).
    """
    settings = runtime.get().settings
    row, now = ready.row, utcnow()
    channel, body = ready.choice.channel, ready.choice.body
    assert channel is not None and body is not None
    until = pauses.until(row.account_id, channel.value) if pauses is not None \
        else policy.paused_until(row.account_id, channel.value)
    if until is not None and until > now:
        return Outcome(DeliveryStatus.PENDING, counts=False, next_try_at=until, error="paused: quota exhausted")
    api = _api(ready.account)
    rate_name = limiter.account_limiter_name(row.account_id)
    try:
        if slots is not None:
            slots.take(should_stop=should_stop)
        else:
            limiter.acquire(rate_name, settings.outbox.rate_per_second, settings.outbox.burst,
                            should_stop=should_stop)
        try:
            return _call(api, row, channel, body, ready.openid)
        except WindowClosed:
            if ready.choice.fallback is None:
                raise
            # Our view of the window was wrong (WeChat's is the truth): the template still reaches them.
            log.info("delivery %s: window closed for %s, falling back to the template",
                     row.id, mask_openid(ready.openid))
            channel, body = Channel.TEMPLATE, ready.choice.fallback
            limiter.acquire(rate_name, settings.outbox.rate_per_second, settings.outbox.burst,
                            should_stop=should_stop)
            return _call(api, row, channel, body, ready.openid)
    except limiter.Stopped:
        return Outcome(DeliveryStatus.PENDING, counts=False, next_try_at=now, error="")
    except WeChatError as exc:
        return classify(row, exc, channel, utcnow())
    except Exception as exc:
        # A bug after the request may have gone out: never resend blindly.
        log.exception("delivery %s: unexpected error while sending", row.id)
        return Outcome(DeliveryStatus.UNKNOWN, channel_used=channel.value,
                       error=f"internal error during send: {type(exc).__name__}: {exc}")
