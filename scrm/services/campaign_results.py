"""A campaign's live progress and its results per arm: sends, clicks and conversions against the holdout.

A conversion is a member who made a booking (not cancelled) or had a repair order dated within the
campaign's `conversion_days` after their occurrence started. The holdout group is measured the same
way, so the lift of a variant is its conversion rate minus the holdout's, in percentage points.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db, runtime
from scrm.db import utcnow
from scrm.models import (
    HOLDOUT,
    Booking,
    BookingStatus,
    Campaign,
    CampaignChannel,
    CampaignMember,
    CampaignRun,
    Delivery,
    DeliveryStatus,
    LinkClick,
    RepairOrder,
)
from scrm.outbox import policy
from scrm.services.scope import Perm, Scope

FINAL = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED,
         DeliveryStatus.CANCELLED, DeliveryStatus.UNKNOWN)
APIS = {CampaignChannel.AUTO: ("custom", "template"), CampaignChannel.CUSTOM: ("custom",),
        CampaignChannel.TEMPLATE: ("template",), CampaignChannel.MASS: ("mass",)}

_RID = re.compile(r"\s*rid:\s*\S+")


@dataclass(frozen=True)
class Progress:
    """Where the campaign's deliveries stand now."""

    total: int
    by_status: dict[str, int]
    done: int
    percent: int
    quota_paused_until: datetime | None
    status: str
    pause_reason: str
    eta: datetime | None


@dataclass(frozen=True)
class Arm:
    """The figures of one arm (a variant key or "holdout")."""

    key: str
    members: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    clicks: int = 0
    conversions: int = 0
    rate: float = 0.0              # conversions / members
    lift: float | None = None      # percentage points over the holdout (None: no holdout)


@dataclass(frozen=True)
class Results:
    """Per-arm results, the reasons rows were not sent, and the runs."""

    arms: list[Arm]
    reasons: list[tuple[str, str, int]]      # (status, result or error, count)
    runs: list[CampaignRun] = field(default_factory=list)


def quota_paused_until(c: Campaign) -> datetime | None:
    """The latest quota pause of the APIs the campaign sends through, or None."""
    found = [policy.paused_until(c.account_id, api) for api in APIS[CampaignChannel(c.channel)]]
    return max((u for u in found if u is not None), default=None)


def compute_progress(s: Session, c: Campaign, now: datetime | None = None) -> Progress:
    """Progress of a loaded campaign in the caller's session."""
    now = now or utcnow()
    counts = {str(k): int(n) for k, n in s.execute(
        sa.select(Delivery.status, sa.func.count()).where(Delivery.campaign_id == c.id)
        .group_by(Delivery.status)).all()}
    by_status = {st.value: counts.get(st.value, 0) for st in DeliveryStatus}
    total = sum(by_status.values())
    done = sum(by_status[st.value] for st in FINAL)
    left = total - done
    paused = quota_paused_until(c)
    rate = float(runtime.get().settings.outbox.rate_per_second) or 1.0
    eta = None
    if left and c.status == "running":
        eta = max(now, paused or now) + timedelta(seconds=left / rate)
    return Progress(total=total, by_status=by_status, done=done, percent=int(100 * done / total) if total else 0,
                    quota_paused_until=paused if paused and paused > now else None, status=str(c.status),
                    pause_reason=c.pause_reason, eta=eta)


def progress(scope: Scope, campaign_id: int) -> Progress:
    """The campaign's live progress."""
    scope.require(Perm.CAMPAIGNS_MANAGE)
    with db.transaction() as s:
        return compute_progress(s, scope.get(s, Campaign, campaign_id))


def _conversions(s: Session, c: Campaign, runs: list[CampaignRun]) -> dict[str, int]:
    out: dict[str, int] = {}
    for run in runs:
        start, end = run.started_at, run.started_at + timedelta(days=c.conversion_days)
        m = CampaignMember
        booked = sa.exists().where(
            sa.or_(Booking.customer_id == m.customer_id, Booking.follower_id == m.follower_id),
            Booking.status != BookingStatus.CANCELLED, Booking.created_at >= start, Booking.created_at < end)
        visited = sa.exists().where(RepairOrder.customer_id == m.customer_id, RepairOrder.date >= start.date(),
                                    RepairOrder.date <= end.date())
        rows = s.execute(sa.select(m.arm, sa.func.count()).where(
            m.campaign_id == c.id, m.occurrence == run.occurrence, sa.or_(booked, visited)).group_by(m.arm)).all()
        for arm, n in rows:
            out[str(arm)] = out.get(str(arm), 0) + int(n)
    return out


def arm_counts(s: Session, c: Campaign) -> tuple[dict[str, int], dict[str, int]]:
    """Members and conversions per arm (the dashboard's pre-aggregated campaign lift)."""
    runs = list(s.scalars(sa.select(CampaignRun).where(CampaignRun.campaign_id == c.id)))
    members = {str(k): int(n) for k, n in s.execute(
        sa.select(CampaignMember.arm, sa.func.count()).where(CampaignMember.campaign_id == c.id)
        .group_by(CampaignMember.arm)).all()}
    return members, _conversions(s, c, runs)


def compute_results(s: Session, c: Campaign) -> Results:
    """Results of a loaded campaign in the caller's session."""
    runs = list(s.scalars(sa.select(CampaignRun).where(CampaignRun.campaign_id == c.id)
                          .order_by(CampaignRun.occurrence)))
    members = {str(k): int(n) for k, n in s.execute(
        sa.select(CampaignMember.arm, sa.func.count()).where(CampaignMember.campaign_id == c.id)
        .group_by(CampaignMember.arm)).all()}
    status: dict[tuple[str, str], int] = {(str(a), str(st)): int(n) for a, st, n in s.execute(
        sa.select(Delivery.arm, Delivery.status, sa.func.count()).where(Delivery.campaign_id == c.id)
        .group_by(Delivery.arm, Delivery.status)).all()}
    clicks = {str(k): int(n) for k, n in s.execute(
        sa.select(Delivery.arm, sa.func.count(sa.distinct(LinkClick.follower_id)))
        .join(Delivery, Delivery.id == LinkClick.delivery_id).where(Delivery.campaign_id == c.id)
        .group_by(Delivery.arm)).all()}
    conv = _conversions(s, c, runs)
    keys = [str(v["key"]) for v in c.variants] + ([HOLDOUT] if c.holdout_pct or members.get(HOLDOUT) else [])
    base = members.get(HOLDOUT, 0)
    base_rate = conv.get(HOLDOUT, 0) / base if base else None
    arms: list[Arm] = []
    for key in keys:
        n = members.get(key, 0)
        rate = conv.get(key, 0) / n if n else 0.0
        sent = status.get((key, "sent"), 0) + status.get((key, "delivered"), 0)
        lift = round((rate - base_rate) * 100, 1) if base_rate is not None and key != HOLDOUT and n else None
        arms.append(Arm(key=key, members=n, sent=sent, delivered=status.get((key, "delivered"), 0),
                        failed=status.get((key, "failed"), 0), skipped=status.get((key, "skipped"), 0),
                        clicks=clicks.get(key, 0), conversions=conv.get(key, 0), rate=rate, lift=lift))
    why = sa.func.coalesce(sa.func.nullif(Delivery.result, ""), sa.func.nullif(Delivery.error, ""), "")
    grouped: dict[tuple[str, str], int] = {}
    for st, r, n in s.execute(
            sa.select(Delivery.status, why, sa.func.count()).where(
                Delivery.campaign_id == c.id,
                Delivery.status.in_([DeliveryStatus.FAILED, DeliveryStatus.SKIPPED, DeliveryStatus.UNKNOWN]))
            .group_by(Delivery.status, why)).all():
        reason = (str(st), _RID.sub("", str(r)))   # WeChat's request id differs per call: one line per reason
        grouped[reason] = grouped.get(reason, 0) + int(n)
    reasons = sorted(((st, r, n) for (st, r), n in grouped.items()), key=lambda x: -x[2])
    return Results(arms=arms, reasons=reasons, runs=runs)


def results(scope: Scope, campaign_id: int) -> Results:
    """The campaign's results per arm."""
    scope.require(Perm.CAMPAIGNS_MANAGE)
    with db.transaction() as s:
        return compute_results(s, scope.get(s, Campaign, campaign_id))
