"""Sending one claimed row: the checks before the call, the call, and what its answer means."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from scrm import db, runtime
from scrm.config import AccountSettings
from scrm.db import utcnow
from scrm.models import Account, Channel, Delivery, DeliveryStatus, Follower
from scrm.outbox import cap, limiter, policy
from scrm.outbox.channel import Choice, Window, choose
from scrm.outbox.claim import Claimed
from scrm.outbox.outcome import Outcome
from scrm.security import mask_openid
from scrm.wechat.client import WeChatAPI, api_for
from scrm.wechat.errors import (
    AccountMisconfigured,
    AlreadySent,
    NetworkError,
    QuotaExceeded,
    RateLimited,
    Unsubscribed,
    WeChatError,
    WindowClosed,
)

log = logging.getLogger(__name__)
MISCONFIG_PAUSE = timedelta(minutes=10)
# Send-time checks of feature areas: a payload carrying {"guard": {"kind": k, ...}} is skipped when
# GUARDS[k](guard) gives a reason (e.g. a reminder of a booking cancelled or moved after it was written).
GUARDS: dict[str, Callable[[dict[str, Any]], str]] = {}


# Rows whose payload carries {"render": {"kind": k, ...}} get their message at send time from RENDERERS[k]:
# a payload of the row's channel (for AUTO: {"custom": ..., "template": ...}), or a str, the reason to skip.
RENDERERS: dict[str, Callable[[Claimed], dict[str, Any] | str]] = {}


# An optional hook per kind, called once per claimed batch with that kind's rows (e.g. to load every
# recipient's data in one query); the renderer must still work for a row the hook did not see.
PREPARERS: dict[str, Callable[[list[Claimed]], None]] = {}


def register_renderer(kind: str, render: Callable[[Claimed], dict[str, Any] | str],
                      prepare: Callable[[list[Claimed]], None] | None = None) -> None:
    """Have rows whose payload carries {"render": {"kind": `kind`, ...}} rendered by `render` just before sending."""
    RENDERERS[kind] = render
    if prepare is not None:
        PREPARERS[kind] = prepare


def prepare_batch(rows: list[Claimed]) -> None:
    """Give each renderer's batch hook the claimed rows of its kind (a failing hook only costs speed)."""
    kinds: dict[str, list[Claimed]] = {}
    for row in rows:
        spec = row.payload.get("render")
        if isinstance(spec, dict) and str(spec.get("kind", "")) in PREPARERS:
            kinds.setdefault(str(spec["kind"]), []).append(row)
    for kind, batch in kinds.items():
        try:
            PREPARERS[kind](batch)
        except Exception:
            log.exception("preparing %d %s rows failed; they are rendered one by one", len(batch), kind)


def _render(row: Claimed) -> dict[str, Any] | str:
    spec = row.payload.get("render")
    if not isinstance(spec, dict):
        return row.payload
    render = RENDERERS.get(str(spec.get("kind", "")))
    if render is None:
        return f"no_renderer: no renderer registered for {spec.get('kind')!r}"
    return render(row)


def register_guard(kind: str, check: Callable[[dict[str, Any]], str]) -> None:
    """Have rows whose payload carries a guard of `kind` checked by `check` (a skip reason, or '') before sending."""
    GUARDS[kind] = check


def _stale(row: Claimed) -> str:
    guard = row.payload.get("guard")
    if not isinstance(guard, dict):
        return ""
    check = GUARDS.get(str(guard.get("kind", "")))
    return check(guard) if check is not None else f"no check registered for guard {guard.get('kind')!r}"


@dataclass(frozen=True)
class Context:
    """What the checks need, read in one short transaction before the call."""

    account: AccountSettings | None
    follower_found: bool
    subscribed: bool
    opt_out: bool
    openid: str
    window: Window | None


def _load(row: Claimed) -> Context:
    with db.transaction() as s:
        slug = s.scalar(sa.select(Account.slug).where(Account.id == row.account_id))
        f = s.get(Follower, row.follower_id) if row.follower_id is not None else None
        ctx = Context(account=runtime.get().settings.account(slug) if slug else None,
                      follower_found=f is not None, subscribed=bool(f and f.subscribed),
                      opt_out=bool(f and f.opt_out_marketing), openid=row.openid or (f.openid if f else ""),
                      window=Window(f.last_interaction_at, f.interaction_kind, f.cs_sent_since_interaction)
                      if f else None)
        if f is not None:
            s.expunge(f)   # a later read in this thread must not see this snapshot
    return ctx


def _backoff(row: Claimed, now: datetime, error: WeChatError) -> Outcome:
    """Try again later, or give up once the row has used its attempts."""
    max_attempts = runtime.get().settings.outbox.max_attempts
    if row.attempts >= max_attempts:
        return Outcome(DeliveryStatus.FAILED, error_code=error.errcode,
                       error=f"gave up after {row.attempts} attempts: {error.describe()}")
    delay = 5 * row.attempts if isinstance(error, RateLimited) else min(30 * 2 ** (row.attempts - 1), 3600)
    return Outcome(DeliveryStatus.PENDING, error_code=error.errcode, error=error.describe(),
                   next_try_at=now + timedelta(seconds=delay))


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


def _defer_quota(row: Claimed, api: str, error: QuotaExceeded, now: datetime) -> Outcome:
    """45009: pause this API of the account until the quota resets and park its pending rows there."""
    reset = policy.next_quota_reset(now)
    policy.pause(row.account_id, api, reset, error.describe())
    with db.transaction() as s:
        s.execute(sa.update(Delivery)
                  .where(Delivery.account_id == row.account_id, Delivery.channel == Channel(api),
                         Delivery.status == DeliveryStatus.PENDING, Delivery.next_try_at < reset)
                  .values(next_try_at=reset, updated_at=now)
                  .execution_options(synchronize_session=False))
    log.warning("account %s: %s quota exhausted (45009), paused until %s", row.account_id, api, reset.isoformat())
    return Outcome(DeliveryStatus.PENDING, error_code=error.errcode, counts=False, next_try_at=reset,
                   error=f"daily quota exhausted, paused until {reset.isoformat()}")


def _call(api: WeChatAPI, row: Claimed, channel: Channel, body: dict[str, Any], openid: str) -> Outcome:
    """The one WeChat call; raises WeChatError."""
    if channel == Channel.CUSTOM:
        api.send_custom(openid, body)
        return Outcome(DeliveryStatus.SENT, channel_used="custom", custom_sent=True)
    if channel == Channel.TEMPLATE:
        res = api.send_template(openid, body, client_msg_id=f"scrm-{row.id}")
        return Outcome(DeliveryStatus.SENT, channel_used="template", wechat_msgid=res["msgid"])
    res = api.mass_send_tag(int(body["tag_id"]), body, clientmsgid=f"scrm-{row.id}")
    return Outcome(DeliveryStatus.SENT, channel_used="mass", wechat_msgid=res["msg_id"])


def send_row(row: Claimed, should_stop: Callable[[], bool] | None = None, now: datetime | None = None) -> Outcome:
    """Check, send and classify one claimed row (nothing is written here except pauses)."""
    now = now or utcnow()
    settings = runtime.get().settings
    ctx = _load(row)
    if ctx.account is None:
        return Outcome(DeliveryStatus.FAILED, error="the account is not configured")
    stale = _stale(row)
    if stale:
        return Outcome(DeliveryStatus.SKIPPED, error=stale[:255], result="stale")
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
    payload = _render(row)
    if isinstance(payload, str):
        return Outcome(DeliveryStatus.SKIPPED, error=payload[:255], result=_result_of(payload))
    choice = choose(row.channel, payload, ctx.window, now)
    if choice.channel is None or choice.body is None:
        return Outcome(DeliveryStatus.SKIPPED, error=choice.reason, result=choice.reason.replace(" ", "_"))
    if marketing and row.follower_id is not None and not cap.reserve(row.id, row.follower_id, now):
        count, days = cap.limits()
        return Outcome(DeliveryStatus.SKIPPED, result="capped",
                       error=f"frequency cap: {count} marketing messages in {days} days reached")
    return _send(row, ctx, choice, should_stop, now)


def _result_of(reason: str) -> str:
    """A short result code from a skip reason: 'exited: booked' -> 'exited'."""
    return reason.split(":", 1)[0].strip().replace(" ", "_")[:64] or "skipped"


def _send(row: Claimed, ctx: Context, choice: Choice, should_stop: Callable[[], bool] | None,
          now: datetime) -> Outcome:
    assert ctx.account is not None and choice.channel is not None and choice.body is not None
    settings = runtime.get().settings
    channel, body = choice.channel, choice.body
    problem = _check_body(channel, body)
    if problem:
        return Outcome(DeliveryStatus.FAILED, error=problem, result="invalid_payload")
    until = policy.paused_until(row.account_id, channel.value)
    if until is not None and until > now:
        return Outcome(DeliveryStatus.PENDING, counts=False, next_try_at=until, error="paused: quota exhausted")
    api = api_for(ctx.account)
    try:
        limiter.acquire(limiter.account_limiter_name(row.account_id), settings.outbox.rate_per_second,
                        settings.outbox.burst, should_stop=should_stop)
        try:
            return _call(api, row, channel, body, ctx.openid)
        except WindowClosed:
            if choice.fallback is None:
                raise
            # Our view of the window was wrong (WeChat's is the truth): the template still reaches them.
            log.info("delivery %s: window closed for %s, falling back to the template",
                     row.id, mask_openid(ctx.openid))
            channel, body = Channel.TEMPLATE, choice.fallback
            limiter.acquire(limiter.account_limiter_name(row.account_id), settings.outbox.rate_per_second,
                            settings.outbox.burst, should_stop=should_stop)
            return _call(api, row, channel, body, ctx.openid)
    except limiter.Stopped:
        return Outcome(DeliveryStatus.PENDING, counts=False, next_try_at=now, error="")
    except WeChatError as exc:
        return classify(row, exc, channel, utcnow())
    except Exception as exc:
        # A bug after the request may have gone out: never resend blindly.
        log.exception("delivery %s: unexpected error while sending", row.id)
        return Outcome(DeliveryStatus.UNKNOWN, channel_used=channel.value,
                       error=f"internal error during send: {type(exc).__name__}: {exc}")


def classify(row: Claimed, exc: WeChatError, channel: Channel, now: datetime) -> Outcome:
    """Turn a WeChat error into the row's next state."""
    used = channel.value
    if isinstance(exc, AlreadySent):
        # Our clientmsgid is per row: WeChat took this very row before (a retry after a lost answer).
        return Outcome(DeliveryStatus.SENT, channel_used=used, error_code=exc.errcode, result="already_sent",
                       error="WeChat already accepted this send earlier (clientmsgid reused)")
    if isinstance(exc, QuotaExceeded):
        return _defer_quota(row, used, exc, now)
    if isinstance(exc, AccountMisconfigured):
        policy.pause(row.account_id, policy.ALL_APIS, now + MISCONFIG_PAUSE, exc.describe())
        log.error("account %s cannot call WeChat: %s (sending paused for 10 minutes)", row.account_id, exc)
        return Outcome(DeliveryStatus.PENDING, error_code=exc.errcode, error=exc.describe(), counts=False,
                       next_try_at=now + MISCONFIG_PAUSE)
    if isinstance(exc, NetworkError) and exc.unknown_outcome:
        log.warning("delivery %s: outcome unknown (%s); not resending", row.id, exc)
        return Outcome(DeliveryStatus.UNKNOWN, channel_used=used, error=f"outcome unknown: {exc.describe()}")
    if exc.transient:
        return _backoff(row, now, exc)
    return Outcome(DeliveryStatus.FAILED, channel_used=used, error_code=exc.errcode, error=exc.describe(),
                   follower_unsubscribed=isinstance(exc, Unsubscribed))
