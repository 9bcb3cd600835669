"""A campaign's dry run: who it reaches and how, what of today's quota it uses, and when it would finish.

Everything is counted in SQL over the compiled segment, the same audience and arms a launch writes;
only a sample of up to SAMPLE recipients is rendered, to find messages that break WeChat's limits for
some customers (a long name, a missing vehicle) before anything goes out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db, runtime
from scrm.db import utcnow
from scrm.models import HOLDOUT, Campaign, CampaignChannel, Delivery, Follower, ScheduleKind
from scrm.outbox import cap, policy
from scrm.outbox.channel import SAFETY, WINDOWS
from scrm.services import campaign_run, campaign_schedule, compose, links, segment_compile
from scrm.services.compose_context import contexts
from scrm.services.scope import Perm, Scope

SAMPLE = 100


@dataclass(frozen=True)
class SampleProblem:
    """A message that breaks a WeChat limit for one sampled recipient (`message` % `params`, translated)."""

    follower_id: int
    customer_id: int | None
    name: str
    arm: str
    message: str
    params: dict[str, object]


@dataclass(frozen=True)
class DryRun:
    """What launching the campaign now would do."""

    audience: int                          # reachable followers (holdout included)
    holdout: int
    per_arm: dict[str, int]
    excluded: dict[str, int]               # no_wechat, unreachable
    channel_mix: dict[str, int]            # custom / template / skipped_window, or {"mass": 1}
    capped: int                            # followers already at the frequency cap
    quota: dict[str, dict[str, int]]       # api -> {used_today, this_campaign, daily}
    over_quota: bool
    rate_per_second: float
    starts_at: datetime
    finishes_at: datetime
    carries_over: bool = False             # the day's quota runs out: the rest goes the next day
    sample_problems: list[SampleProblem] = field(default_factory=list)

    @property
    def sending(self) -> int:
        """Followers in the sending arms."""
        return self.audience - self.holdout


def audience_size(s: Session, campaign: Campaign, now: datetime | None = None) -> int:
    """How many reachable followers the campaign's segment holds now."""
    reach = campaign_run.reachable_of(campaign_run.audience_of(s, campaign, now))
    return int(s.scalar(sa.select(sa.func.count()).select_from(reach)) or 0)


def _members(s: Session, c: Campaign, now: datetime) -> tuple[Any, Any]:
    aud = campaign_run.audience_of(s, c, now)
    reach = campaign_run.reachable_of(aud)
    stmt = sa.select(reach.c.follower_id, reach.c.customer_id, campaign_run.arm_of(reach.c.follower_id, c)
                     .label("arm"))
    if c.channel == CampaignChannel.MASS:
        stmt = stmt.order_by(reach.c.follower_id).limit(campaign_run.MASS_MAX)
    return aud, stmt.subquery("members")


def _window_open(now: datetime) -> Any:
    """SQL twin of scrm.outbox.channel.window_open over the followers table."""
    return sa.or_(*[sa.and_(Follower.interaction_kind == kind, Follower.cs_sent_since_interaction < allowed,
                            Follower.last_interaction_at > now - length + SAFETY)
                    for kind, (length, allowed) in WINDOWS.items()])


def _mix(s: Session, c: Campaign, sending: Any, now: datetime) -> dict[str, int]:
    if c.channel == CampaignChannel.MASS:
        return {"mass": 1}
    total = int(s.scalar(sa.select(sa.func.count()).select_from(sending)) or 0)
    if c.channel == CampaignChannel.TEMPLATE:
        return {"custom": 0, "template": total, "skipped_window": 0}
    open_ = int(s.scalar(sa.select(sa.func.count()).select_from(sending)
                         .join(Follower, Follower.id == sending.c.follower_id).where(_window_open(now))) or 0)
    text_only = not any(isinstance(v.get("message"), dict) and v["message"].get("template") for v in c.variants)
    if c.channel == CampaignChannel.CUSTOM or text_only:   # AUTO without a template reaches the open windows only
        return {"custom": open_, "template": 0, "skipped_window": total - open_}
    return {"custom": open_, "template": total - open_, "skipped_window": 0}


def _capped(s: Session, sending: Any, now: datetime) -> int:
    count, days = cap.limits()
    if count <= 0:
        return 0
    used = (sa.select(Delivery.follower_id).where(Delivery.capped_at >= now - timedelta(days=days),
                                                  Delivery.follower_id.in_(sa.select(sending.c.follower_id)))
            .group_by(Delivery.follower_id).having(sa.func.count() >= count).subquery())
    return int(s.scalar(sa.select(sa.func.count()).select_from(used)) or 0)


def _quota(s: Session, c: Campaign, mix: dict[str, int], now: datetime) -> dict[str, dict[str, int]]:
    outbox = runtime.get().settings.outbox
    since = policy.next_quota_reset(now) - timedelta(days=1)
    out: dict[str, dict[str, int]] = {}
    for api, daily in (("template", outbox.template_daily_quota), ("custom", outbox.custom_daily_quota)):
        used = s.scalar(sa.select(sa.func.count()).select_from(Delivery)
                        .where(Delivery.account_id == c.account_id, Delivery.channel_used == api,
                               Delivery.sent_at >= since)) or 0
        out[api] = {"used_today": int(used), "this_campaign": int(mix.get(api, 0)), "daily": int(daily)}
    return out


def _sample(s: Session, c: Campaign, sending: Any, now: datetime) -> list[SampleProblem]:
    rows = s.execute(sa.select(sending.c.follower_id, sending.c.customer_id, sending.c.arm)
                     .order_by(sending.c.follower_id).limit(SAMPLE)).all()
    if not rows:
        return []
    settings = runtime.get().settings
    ctxs = contexts(s, [(r.customer_id, r.follower_id) for r in rows], dealer_id=c.dealer_id,
                    today=now.astimezone(settings.app.tz).date(), language=settings.app.default_language)
    messages = {str(v["key"]): v["message"] for v in c.variants}
    channel = CampaignChannel(c.channel)
    probe = "x" * 12

    def link(url: str) -> str:   # as long as the real personal redirect
        return links.tracked_url(probe, 10 ** 9)

    out: list[SampleProblem] = []
    for r in rows:
        ctx = ctxs[r.follower_id]
        try:
            payload = compose.render(messages[str(r.arm)], channel, ctx, link)
        except Exception as exc:   # a template error shows like any other problem
            out.append(SampleProblem(r.follower_id, r.customer_id, ctx["customer"]["name"], str(r.arm),
                                     "The message cannot be rendered: %(error)s", {"error": str(exc)[:100]}))
            continue
        for message, params in compose.problems(payload, channel):
            out.append(SampleProblem(r.follower_id, r.customer_id, ctx["customer"]["name"], str(r.arm),
                                     message, params))
    return out


def _starts_at(c: Campaign, now: datetime) -> datetime:
    settings = runtime.get().settings
    start = (c.next_run_at or c.send_at) if c.schedule != ScheduleKind.NOW else now
    if start is None and c.schedule == ScheduleKind.RECURRING:
        start = campaign_schedule.next_run(c.recurrence, now, settings.app.tz)
    start = max(start or now, now)
    quiet = c.quiet_hours or settings.outbox.quiet_hours
    return policy.quiet_until(start, quiet, settings.app.tz) or start


def compute(s: Session, c: Campaign, now: datetime) -> DryRun:
    """The dry run of a loaded campaign, in the caller's session."""
    aud, members = _members(s, c, now)
    per_arm = {str(k): int(n) for k, n in s.execute(sa.select(members.c.arm, sa.func.count())
                                                     .group_by(members.c.arm)).all()}
    sending = sa.select(members).where(members.c.arm != HOLDOUT).subquery("sending")
    mix = _mix(s, c, sending, now)
    quota = _quota(s, c, mix, now)
    over = {api: q["used_today"] + q["this_campaign"] - q["daily"] for api, q in quota.items()}
    rate = float(runtime.get().settings.outbox.rate_per_second) or 1.0
    starts = _starts_at(c, now)
    to_send = 1 if c.channel == CampaignChannel.MASS else mix.get("custom", 0) + mix.get("template", 0)
    finishes = starts + timedelta(seconds=to_send / rate)
    worst = max(over.values())
    if worst > 0:   # the rest waits for the quota to reset at midnight, China time
        finishes = max(finishes, policy.next_quota_reset(starts) + timedelta(seconds=worst / rate))
    holdout = per_arm.get(HOLDOUT, 0)
    return DryRun(audience=sum(per_arm.values()), holdout=holdout,
                  per_arm={k: n for k, n in sorted(per_arm.items()) if k != HOLDOUT},
                  excluded=campaign_run.excluded(s, aud), channel_mix=mix, capped=_capped(s, sending, now),
                  quota=quota, over_quota=worst > 0, rate_per_second=rate, starts_at=starts, finishes_at=finishes,
                  carries_over=worst > 0, sample_problems=_sample(s, c, sending, now))


def dry_run(scope: Scope, campaign_id: int, now: datetime | None = None) -> DryRun:
    """What launching the campaign would do now (nothing is written)."""
    scope.require(Perm.CAMPAIGNS_MANAGE)
    now = now or utcnow()
    with db.transaction() as s:
        c = scope.get(s, Campaign, campaign_id)
        segment_compile.tune(s)
        return compute(s, c, now)
