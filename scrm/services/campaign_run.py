"""Running a campaign: materialise one occurrence's audience and deliveries in bulk; pause, resume, cancel.

An occurrence is written in one transaction: its `campaign_runs` row, its members (one INSERT ... SELECT
from the compiled segment, each follower once, with its arm), then its deliveries (one INSERT ... SELECT
from the members of the sending arms). Dedupe keys `c:<campaign>:<occurrence>:<follower>` and the unique
members make a second attempt at the same occurrence a no-op, whatever crashed in between.

Arms come from a hash of (campaign, follower): the same follower stays in the same arm across
occurrences, so a holdout stays out of every run of a recurring campaign.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from scrm import runtime
from scrm.db import utcnow
from scrm.models import (
    HOLDOUT,
    Campaign,
    CampaignChannel,
    CampaignMember,
    CampaignRun,
    CampaignStatus,
    Channel,
    Delivery,
    DeliveryStatus,
    Follower,
    Segment,
)
from scrm.services import segment_compile
from scrm.services.errors import Invalid

PURPOSE = "campaign"
CHANNELS = {CampaignChannel.AUTO: Channel.AUTO, CampaignChannel.CUSTOM: Channel.CUSTOM,
            CampaignChannel.TEMPLATE: Channel.TEMPLATE, CampaignChannel.MASS: Channel.MASS}
MASS_MAX = 10_000   # followers one mass send may tag (200 tagging calls at most)


def env(s: Session, now: datetime | None = None) -> segment_compile.Env:
    """The compile environment for today in the app's time zone."""
    tz = runtime.get().settings.app.tz
    return segment_compile.Env(postgres=s.get_bind().dialect.name == "postgresql",
                               today=(now or utcnow()).astimezone(tz).date(), tz=tz)


def audience_of(s: Session, campaign: Campaign, now: datetime | None = None) -> Any:
    """The compiled contact query of the campaign's segment, narrowed to the campaign's dealer."""
    seg = s.get(Segment, campaign.segment_id) if campaign.segment_id else None
    if seg is None or seg.archived_at is not None:
        raise Invalid("Choose a segment for the campaign.", field="segment_id")
    dealer_id = campaign.dealer_id if campaign.dealer_id is not None else seg.dealer_id
    definition = segment_compile.normalise(seg.definition, brand=True)
    return segment_compile.audience(definition, account_id=campaign.account_id, dealer_id=dealer_id,
                                    env=env(s, now)).subquery("aud")


def _bucket(follower: Any, campaign_id: int, salt: int) -> Any:
    """A stable 0-99 bucket per (campaign, follower), the same in PostgreSQL and SQLite."""
    return ((follower * (7919 + salt) + campaign_id * 104729 + salt) % 1000003) % 100


def arm_of(follower: Any, c: Campaign) -> Any:
    """The SQL expression of a follower's arm: holdout first, then the variants by weight."""
    whens: list[tuple[Any, str]] = []
    if c.holdout_pct > 0:
        whens.append((_bucket(follower, c.id, 0) < c.holdout_pct, HOLDOUT))
    upto = 0
    for v in c.variants[:-1]:
        upto += int(v.get("weight", 0))
        whens.append((_bucket(follower, c.id, 17) < upto, str(v["key"])))
    return sa.case(*whens, else_=str(c.variants[-1]["key"])) if whens else sa.literal(str(c.variants[-1]["key"]))


def reachable_of(aud: Any) -> Any:
    """(follower_id, customer_id) of the audience's reachable followers, each once."""
    return (sa.select(aud.c.follower_id, sa.func.min(aud.c.customer_id).label("customer_id"))
            .where(aud.c.follower_id.isnot(None), aud.c.reachable.is_(True))
            .group_by(aud.c.follower_id).subquery("reach"))


def _insert(s: Session, model: Any) -> Any:
    return (postgresql.insert(model) if s.get_bind().dialect.name == "postgresql" else sqlite.insert(model))


def start_run(s: Session, campaign: Campaign, now: datetime | None = None) -> CampaignRun:
    """Materialise the campaign's next occurrence (members and deliveries) in the caller's transaction."""
    now = now or utcnow()
    if not campaign.variants:
        raise Invalid("Write the message.", field="text")
    if s.get_bind().dialect.name == "postgresql":   # one launcher at a time (staff's click, the scheduler)
        s.execute(sa.select(Campaign.id).where(Campaign.id == campaign.id).with_for_update())
        s.refresh(campaign)
    occurrence = campaign.occurrences + 1
    run = s.scalar(sa.select(CampaignRun).where(CampaignRun.campaign_id == campaign.id,
                                                CampaignRun.occurrence == occurrence))
    if run is None:
        run = CampaignRun(campaign_id=campaign.id, occurrence=occurrence, started_at=now)
        s.add(run)
        s.flush()
    segment_compile.tune(s)
    aud = audience_of(s, campaign, now)
    reachable = reachable_of(aud)
    members = (sa.select(sa.literal(campaign.id), sa.literal(occurrence), reachable.c.follower_id,
                        reachable.c.customer_id, arm_of(reachable.c.follower_id, campaign), sa.literal(now))
               # a WHERE lets SQLite tell the upsert's ON CONFLICT from a join's ON
               .where(reachable.c.follower_id.isnot(None))
               # in follower order: ids, the unique key and the follower index then grow at their right edge
               # instead of touching (and logging) pages all over the indexes
               .order_by(reachable.c.follower_id))
    if campaign.channel == CampaignChannel.MASS:
        members = members.limit(MASS_MAX)
    s.execute(_insert(s, CampaignMember).from_select(
        ["campaign_id", "occurrence", "follower_id", "customer_id", "arm", "created_at"], members)
        .on_conflict_do_nothing())
    counts = dict(s.execute(sa.select(CampaignMember.arm, sa.func.count())
                            .where(CampaignMember.campaign_id == campaign.id, CampaignMember.occurrence == occurrence)
                            .group_by(CampaignMember.arm)).all())
    run.audience = int(sum(counts.values()))
    run.holdout = int(counts.get(HOLDOUT, 0))
    run.excluded = excluded(s, aud)
    if campaign.channel == CampaignChannel.MASS:
        _mass_row(s, campaign, run, now)
    else:
        _deliveries(s, campaign, occurrence, now)
    campaign.occurrences = occurrence
    campaign.status = CampaignStatus.RUNNING
    campaign.pause_reason = ""
    campaign.updated_at = now
    return run


def excluded(s: Session, aud: Any) -> dict[str, int]:
    """Contacts of the segment who will not be sent to, by reason."""
    reason = sa.case((aud.c.follower_id.is_(None), "no_wechat"), (aud.c.reachable.is_(False), "unreachable"),
                     else_="ok")
    rows = s.execute(sa.select(reason, sa.func.count()).group_by(reason)).all()
    return {str(k): int(v) for k, v in rows if k != "ok"}


def _c(value: str | int) -> Any:
    """A typed constant (PostgreSQL cannot infer the type of a bare parameter passed to json_build_object)."""
    return sa.cast(sa.literal(value), sa.Integer if isinstance(value, int) else sa.Text)


def _payload(s: Session, campaign: Campaign, occurrence: int, m: Any) -> Any:
    """{"render": {"kind", "campaign_id", "occurrence", "arm", "customer_id"}, "quiet_hours"} per member row."""
    parts = [_c("kind"), _c("campaign"), _c("campaign_id"), _c(campaign.id), _c("occurrence"), _c(occurrence),
             _c("arm"), m.arm, _c("customer_id"), m.customer_id]
    if s.get_bind().dialect.name == "postgresql":
        return sa.func.json_build_object(_c("render"), sa.func.json_build_object(*parts),
                                         _c("quiet_hours"), _c(campaign.quiet_hours))
    return sa.func.json_object("render", sa.func.json(sa.func.json_object(*parts)), "quiet_hours",
                               campaign.quiet_hours)


def _deliveries(s: Session, campaign: Campaign, occurrence: int, now: datetime) -> None:
    m = CampaignMember.__table__.alias("m")
    f = Follower.__table__.alias("f")
    key = sa.literal(f"c:{campaign.id}:{occurrence}:") + sa.cast(m.c.follower_id, sa.String)
    rows = (sa.select(sa.literal(campaign.account_id), sa.literal(campaign.dealer_id, sa.Integer), m.c.follower_id,
                      f.c.openid, key, sa.literal(CHANNELS[campaign.channel].value), sa.literal(PURPOSE),
                      _payload(s, campaign, occurrence, m.c), sa.literal(DeliveryStatus.PENDING.value),
                      sa.literal(0), sa.literal(now), sa.literal(now), sa.literal(now), sa.literal(""),
                      sa.literal(""), sa.literal(""), sa.literal(""), sa.literal(""), sa.literal(campaign.id),
                      m.c.arm)
            .select_from(m.join(f, f.c.id == m.c.follower_id))
            .where(m.c.campaign_id == campaign.id, m.c.occurrence == occurrence, m.c.arm != HOLDOUT)
            .order_by(m.c.follower_id))   # the primary key and the follower index grow in step (see start_run)
    cols = ["account_id", "dealer_id", "follower_id", "openid", "dedupe_key", "channel", "purpose", "payload",
            "status", "attempts", "next_try_at", "created_at", "updated_at", "claimed_by", "channel_used",
            "wechat_msgid", "error", "result", "campaign_id", "arm"]
    s.execute(_insert(s, Delivery).from_select(cols, rows).on_conflict_do_nothing(index_elements=["dedupe_key"]))


def _mass_row(s: Session, campaign: Campaign, run: CampaignRun, now: datetime) -> None:
    from scrm.outbox.enqueue import enqueue

    enqueue(s, account_id=campaign.account_id, dedupe_key=f"c:{campaign.id}:{run.occurrence}:mass",
            channel=Channel.MASS, purpose=PURPOSE, dealer_id=campaign.dealer_id,
            payload={"render": {"kind": "campaign_mass", "campaign_id": campaign.id, "occurrence": run.occurrence},
                     "quiet_hours": campaign.quiet_hours})
    s.execute(sa.update(Delivery).where(Delivery.dedupe_key == f"c:{campaign.id}:{run.occurrence}:mass")
              .values(campaign_id=campaign.id, arm=str(campaign.variants[0]["key"]))
              .execution_options(synchronize_session=False))


def _move(s: Session, campaign: Campaign, src: list[DeliveryStatus], dst: DeliveryStatus, **extra: Any) -> int:
    result = s.execute(sa.update(Delivery).where(Delivery.campaign_id == campaign.id, Delivery.status.in_(src))
                       .values(status=dst, updated_at=utcnow(), **extra).execution_options(synchronize_session=False))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def pause(s: Session, campaign: Campaign, reason: str = "staff") -> int:
    """Hold the campaign's pending rows (rows mid-send finish); return how many were held."""
    if campaign.status not in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED):
        raise Invalid("Only a running or scheduled campaign can be paused.")
    held = _move(s, campaign, [DeliveryStatus.PENDING], DeliveryStatus.HELD)
    campaign.status, campaign.paused_at, campaign.pause_reason = CampaignStatus.PAUSED, utcnow(), reason[:200]
    return held


def resume(s: Session, campaign: Campaign) -> int:
    """Release the held rows; a paused campaign that had not started yet goes back to waiting."""
    if campaign.status != CampaignStatus.PAUSED:
        raise Invalid("Only a paused campaign can be resumed.")
    released = _move(s, campaign, [DeliveryStatus.HELD], DeliveryStatus.PENDING)
    started = campaign.occurrences > 0 and campaign.next_run_at is None
    campaign.status = CampaignStatus.RUNNING if started or released else CampaignStatus.SCHEDULED
    campaign.paused_at, campaign.pause_reason = None, ""
    return released


def cancel(s: Session, campaign: Campaign) -> int:
    """Cancel every row not yet sent; the campaign never runs again."""
    if campaign.status in (CampaignStatus.DONE, CampaignStatus.CANCELLED):
        raise Invalid("The campaign has already ended.")
    cancelled = _move(s, campaign, [DeliveryStatus.PENDING, DeliveryStatus.HELD], DeliveryStatus.CANCELLED,
                      result="cancelled")
    campaign.status, campaign.cancelled_at, campaign.next_run_at = CampaignStatus.CANCELLED, utcnow(), None
    return cancelled
