"""Campaign rows get their message when they are sent: the variant's text rendered for the recipient.

Rendering at send time (not at launch) keeps the launch to two bulk statements and shows the owner
their data as it is when the message leaves. A campaign's variants, channel and link tokens are cached
per process for a short while; they cannot change once the campaign has launched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from scrm import db, runtime
from scrm.db import utcnow
from scrm.models import (
    HOLDOUT,
    Account,
    Campaign,
    CampaignChannel,
    CampaignMember,
    CampaignRun,
    CampaignStatus,
    Dealer,
    Delivery,
    Follower,
)
from scrm.outbox import limiter
from scrm.outbox.channel import Window, window_open
from scrm.outbox.claim import Claimed
from scrm.outbox.send import register_renderer
from scrm.services import compose, links, segment_compile
from scrm.services.compose_context import contexts, dealer_context, delivery_contexts
from scrm.wechat.client import api_for
from scrm.wechat.errors import WeChatError

CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Plan:
    """What rendering needs of a campaign."""

    account_id: int
    dealer_id: int | None
    channel: CampaignChannel
    status: CampaignStatus
    messages: dict[str, dict[str, Any]]
    tokens: dict[str, str]


_cache: dict[int, tuple[float, Plan]] = {}


def plan(campaign_id: int) -> Plan | None:
    """The campaign's render plan (cached for CACHE_SECONDS)."""
    hit = _cache.get(campaign_id)
    if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    with db.transaction() as s:
        c = s.get(Campaign, campaign_id)
        if c is None:
            return None
        messages = {str(v["key"]): v["message"] for v in c.variants}
        urls = [u for m in messages.values() for u in compose.urls(m)]
        tokens = links.ensure(s, c.account_id, urls, campaign_id=c.id)
        p = Plan(c.account_id, c.dealer_id, CampaignChannel(c.channel), CampaignStatus(c.status), messages, tokens)
    _cache[campaign_id] = (time.monotonic(), p)
    return p


def forget(campaign_id: int) -> None:
    """Drop a cached plan (after a status change in this process)."""
    _cache.pop(campaign_id, None)


def forget_all() -> None:
    """Drop every cached plan (tests: ids start again after each test's truncation)."""
    _cache.clear()


def _today() -> Any:
    return utcnow().astimezone(runtime.get().settings.app.tz).date()


def _window_open(s: Any, follower_id: int) -> bool:
    """A CUSTOM campaign reaches only followers whose customer-service window is open now."""
    f = s.get(Follower, follower_id)
    if f is None:
        return False
    window = Window(f.last_interaction_at, f.interaction_kind, f.cs_sent_since_interaction)
    s.expunge(f)   # a later read in this thread must not see this snapshot
    return window_open(window, utcnow())


_local = threading.local()


def _prefetched() -> dict[int, dict[str, Any]]:
    """This worker thread's contexts loaded for the current batch, by delivery id."""
    ready: dict[int, dict[str, Any]] | None = getattr(_local, "ready", None)
    if ready is None:
        ready = _local.ready = {}
    return ready


def _windows() -> dict[int, bool]:
    """This worker thread's window checks of the current batch's CUSTOM rows, by delivery id."""
    opened: dict[int, bool] | None = getattr(_local, "windows", None)
    if opened is None:
        opened = _local.windows = {}
    return opened


def prepare_rows(rows: list[Claimed]) -> None:
    """Load the recipients' contexts (and, for CUSTOM campaigns, windows) of a claimed batch in one go."""
    ready, opened = _prefetched(), _windows()
    ready.clear()
    opened.clear()
    by_campaign: dict[int, list[int]] = {}
    for row in rows:
        if row.follower_id is not None:
            by_campaign.setdefault(int(row.payload["render"]["campaign_id"]), []).append(row.id)
    language = runtime.get().settings.app.default_language
    with db.transaction() as s:
        for campaign_id, ids in by_campaign.items():
            p = plan(campaign_id)
            if p is None:
                continue
            for delivery_id, _follower, _arm, ctx in delivery_contexts(
                    s, db.among(Delivery.id, ids), dealer_id=p.dealer_id, today=_today(), language=language):
                ready[delivery_id] = ctx
            if p.channel == CampaignChannel.CUSTOM:
                mine = set(ids)
                opened.update(_windows_open(s, [r for r in rows if r.id in mine]))


def _windows_open(s: Any, rows: list[Claimed]) -> dict[int, bool]:
    """`_window_open` for many rows in one query (the outbox handles one row per follower per batch)."""
    ids = {r.follower_id for r in rows if r.follower_id is not None}
    found = {f.id: Window(f.last_interaction_at, f.interaction_kind, f.cs_sent_since_interaction) for f in s.execute(
        sa.select(Follower.id, Follower.last_interaction_at, Follower.interaction_kind,
                  Follower.cs_sent_since_interaction).where(db.among(Follower.id, ids)))}
    now = utcnow()
    return {r.id: r.follower_id in found and window_open(found[r.follower_id], now) for r in rows}


def render_row(row: Claimed) -> dict[str, Any] | str:
    """The payload for one campaign row, or the reason to skip it."""
    spec = row.payload["render"]
    p = plan(int(spec["campaign_id"]))
    if p is None:
        return "stale: campaign deleted"
    if p.status == CampaignStatus.CANCELLED:
        return "cancelled: campaign cancelled"
    message = p.messages.get(str(spec.get("arm", "")))
    if message is None or row.follower_id is None:
        return "invalid: no such variant"
    customer_id = spec.get("customer_id")
    ctx = _prefetched().pop(row.id, None)
    opened = _windows().pop(row.id, None)
    if p.channel == CampaignChannel.CUSTOM and opened is False:
        return "window_closed: outside the customer-service window"
    if ctx is None or (p.channel == CampaignChannel.CUSTOM and opened is None):
        with db.transaction() as s:
            if p.channel == CampaignChannel.CUSTOM and not _window_open(s, row.follower_id):
                return "window_closed: outside the customer-service window"
            if ctx is None:
                ctx = contexts(s, [(customer_id, row.follower_id)], dealer_id=p.dealer_id, today=_today(),
                               language=runtime.get().settings.app.default_language)[row.follower_id]
    return _payload(p, message, ctx, row.id)


def _payload(p: Plan, message: dict[str, Any], ctx: dict[str, Any], delivery_id: int) -> dict[str, Any] | str:
    """The rendered payload of one delivery, or why it breaks WeChat's limits."""
    def link(url: str) -> str:
        token = p.tokens.get(url)
        return links.tracked_url(token, delivery_id) if token else url

    payload = compose.render(message, p.channel, ctx, link)
    problems = compose.problems(payload, p.channel)
    if problems and p.channel != CampaignChannel.AUTO:
        text, params = problems[0]
        return "too_long: " + (text % params)
    if problems:   # AUTO: drop the part that breaks a limit, send the other
        custom_ok = not compose.problems({"custom": payload["custom"]}, p.channel)
        payload = {"custom": payload["custom"], "template": None} if custom_ok else \
            {"custom": None, "template": payload["template"]}
        if compose.problems(payload, p.channel):
            return "too_long: " + (problems[0][0] % problems[0][1])
    return payload


def render_all(campaign_id: int, *, part: tuple[int, int] = (0, 1)) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(delivery id, payload or the reason it breaks a limit) of every follower row of the campaign, in no set order.

    The contexts stream from one query through a server-side cursor (the connection stays open while the
    caller iterates) and go through the send worker's rendering; send-time rules (the customer-service
    window, cancellation) are the send's, not checked here. `part` (k, n) keeps the rows whose id is k
    modulo n, so that n processes can share a campaign.
    """
    p = plan(campaign_id)
    if p is None:
        return
    k, n = part
    where = sa.and_(Delivery.campaign_id == campaign_id, Delivery.follower_id.isnot(None),
                    Delivery.id % n == k if n > 1 else sa.true())
    with db.transaction() as s:
        segment_compile.tune(s)   # the hash joins of a whole campaign fit in memory
        for delivery_id, _follower, arm, ctx in delivery_contexts(
                s, where, dealer_id=p.dealer_id, today=_today(),
                language=runtime.get().settings.app.default_language, whole_account=p.account_id):
            message = p.messages.get(arm)
            yield delivery_id, "invalid: no such variant" if message is None else _payload(p, message, ctx,
                                                                                            delivery_id)


def _mass_audience(campaign_id: int, occurrence: int) -> tuple[str, CampaignRun | None, list[str], Any]:
    with db.transaction() as s:
        c = s.get(Campaign, campaign_id)
        slug = s.scalar(sa.select(Account.slug).where(Account.id == c.account_id)) if c else None
        run = s.scalar(sa.select(CampaignRun).where(CampaignRun.campaign_id == campaign_id,
                                                    CampaignRun.occurrence == occurrence))
        openids = list(s.scalars(
            sa.select(Follower.openid).join(CampaignMember, CampaignMember.follower_id == Follower.id)
            .where(CampaignMember.campaign_id == campaign_id, CampaignMember.occurrence == occurrence,
                   CampaignMember.arm != HOLDOUT, Follower.subscribed.is_(True))))
        dealer = dealer_context(s.get(Dealer, c.dealer_id)) if c and c.dealer_id else None
        if run is not None:
            s.expunge(run)
    return slug or "", run, openids, dealer


def render_mass(row: Claimed) -> dict[str, Any] | str:
    """A mass send: put the occurrence's audience under a WeChat tag (once), then send the text to it."""
    spec = row.payload["render"]
    campaign_id, occurrence = int(spec["campaign_id"]), int(spec["occurrence"])
    p = plan(campaign_id)
    if p is None or p.status == CampaignStatus.CANCELLED:
        return "cancelled: campaign cancelled"
    settings = runtime.get().settings
    slug, run, openids, dealer = _mass_audience(campaign_id, occurrence)
    account = settings.account(slug)
    if account is None or run is None:
        return "invalid: account or run missing"
    if not openids:
        return "empty: no follower to send to"
    api = api_for(account)
    name, rate = limiter.account_limiter_name(p.account_id), (settings.outbox.rate_per_second, settings.outbox.burst)
    try:
        tag_id = run.mass_tag_id
        if tag_id is None:
            limiter.acquire(name, *rate)
            tag_id = api.create_tag(f"scrm-c{campaign_id}-{occurrence}")
            with db.transaction() as s:   # saved at once: a retry must not create a second tag
                s.execute(sa.update(CampaignRun).where(CampaignRun.id == run.id).values(mass_tag_id=tag_id))
        for i in range(0, len(openids), 50):
            limiter.acquire(name, *rate)
            api.tag_users(tag_id, openids[i:i + 50])
    except WeChatError as exc:
        return f"failed: tagging the audience: {exc.describe()}"
    polite = "尊敬的车主" if settings.app.default_language == "zh" else "Dear owner"
    ctx = {"customer": {"salutation": polite, "name": "", "surname": ""}, "vehicle": None, "member": None,
           "dealer": dealer, "today": _today()}
    body = compose.render(next(iter(p.messages.values())), CampaignChannel.MASS, ctx)
    return {"tag_id": tag_id, **body}


register_renderer("campaign", render_row, prepare_rows)
register_renderer("campaign_mass", render_mass)
