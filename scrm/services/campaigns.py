"""Staff side of campaigns: create and edit drafts, duplicate, launch (now, at a time, recurring), pause,
resume and cancel.

Every call takes the staff member's Scope, needs Perm.CAMPAIGNS_MANAGE, and is audited. A dealer role's
campaigns are its own dealer's; a brand admin may also make account-wide ones (`dealer_id` None).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db, runtime
from scrm.db import utcnow
from scrm.models import Campaign, CampaignChannel, CampaignStatus, Dealer, ScheduleKind, Segment, StaffUser
from scrm.outbox import policy
from scrm.services import audit, campaign_dryrun, campaign_render, campaign_run, campaign_schedule, compose, links
from scrm.services.errors import Invalid, NotFound
from scrm.services.normalize_base import N_
from scrm.services.paging import Page, paginate
from scrm.services.scope import Perm, Scope

INLINE_MAX = 20_000   # a "now" launch up to this audience is materialised in the staff member's request
VARIANT_KEYS = ("A", "B", "C", "D")

audit.ACTIONS.update({
    "campaign.create": N_("Created a campaign"),
    "campaign.update": N_("Edited a campaign"),
    "campaign.duplicate": N_("Duplicated a campaign"),
    "campaign.launch": N_("Launched a campaign"),
    "campaign.pause": N_("Paused a campaign"),
    "campaign.resume": N_("Resumed a campaign"),
    "campaign.cancel": N_("Cancelled a campaign"),
})


@dataclass(frozen=True)
class CampaignInput:
    """The editable fields of a campaign (send_at aware)."""

    name: str
    dealer_id: int | None
    segment_id: int | None
    channel: str
    variants: list[dict[str, Any]]
    holdout_pct: int
    schedule: str
    send_at: datetime | None
    recurrence: dict[str, Any] = field(default_factory=dict)
    quiet_hours: str = ""
    conversion_days: int = 14


def _int(value: Any, lo: int, hi: int, message: str, name: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError) as exc:
        raise Invalid(message, field=name) from exc
    if (isinstance(value, float) and value != n) or not lo <= n <= hi:
        raise Invalid(message, field=name)
    return n


def _variants(raw: Any, channel: CampaignChannel) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= len(VARIANT_KEYS):
        raise Invalid("Write one to four message variants.", field="variants")
    if channel == CampaignChannel.MASS and len(raw) != 1:
        raise Invalid("A mass send has a single message.", field="variants")
    out: list[dict[str, Any]] = []
    for i, v in enumerate(raw):
        v = v if isinstance(v, dict) else {}
        key = str(v.get("key", ""))
        if key != VARIANT_KEYS[i]:
            raise Invalid("Variants are named A, B, C and D in order.", field="variants")
        weight = _int(v.get("weight"), 1, 100, "Each variant's share must be a whole number from 1 to 100.",
                      "variants")
        message = v.get("message")
        if channel == CampaignChannel.MASS and isinstance(message, dict) and message.get("kind") == "news":
            raise Invalid("A mass send carries text only.", field=f"v{i}_text")
        try:
            message = compose.normalise(message, channel)
        except Invalid as exc:
            raise Invalid(exc.message, field=f"v{i}_{exc.field}", **exc.params) from exc
        out.append({"key": key, "weight": weight, "message": message})
    if sum(v["weight"] for v in out) != 100:
        raise Invalid("The variants' shares must add up to 100.", field="variants")
    return out


def _segment(s: Session, scope: Scope, segment_id: int | None, dealer_id: int | None) -> Segment:
    try:
        seg = scope.get(s, Segment, segment_id, shared=True) if segment_id is not None else None
    except NotFound:
        seg = None
    if seg is None or seg.archived_at is not None:
        raise Invalid("Choose a segment for the campaign.", field="segment_id")
    if seg.dealer_id is not None and dealer_id is not None and seg.dealer_id != dealer_id:
        raise Invalid("The segment belongs to another dealer.", field="segment_id")
    return seg


def check(s: Session, scope: Scope, data: CampaignInput, now: datetime) -> dict[str, Any]:
    """The campaign's column values from `data`, checked; raises Invalid naming the form field at fault."""
    name = " ".join(str(data.name or "").split())
    if not name:
        raise Invalid("Enter a name.", field="name")
    if len(name) > 100:
        raise Invalid("The name is too long (at most %(max)s characters).", field="name", max=100)
    if not scope.dealer_ok(data.dealer_id):
        raise Invalid("Choose your own dealer.", field="dealer_id")
    if data.dealer_id is not None:
        dealer = s.get(Dealer, data.dealer_id)
        if dealer is None or dealer.account_id != scope.account_id:
            raise Invalid("Choose your own dealer.", field="dealer_id")
    _segment(s, scope, data.segment_id, data.dealer_id)
    try:
        channel = CampaignChannel(data.channel)
    except ValueError as exc:
        raise Invalid("Choose a channel.", field="channel") from exc
    variants = _variants(data.variants, channel)
    holdout = _int(data.holdout_pct, 0, 50, "The holdout must be from 0 to 50 percent.", "holdout_pct")
    if channel == CampaignChannel.MASS and holdout:
        raise Invalid("A mass send cannot keep a holdout group.", field="holdout_pct")
    try:
        schedule = ScheduleKind(data.schedule)
    except ValueError as exc:
        raise Invalid("Choose when to send.", field="send_at") from exc
    send_at = data.send_at if schedule != ScheduleKind.NOW else None
    if send_at is not None and send_at.tzinfo is None:
        raise Invalid("Enter a date and time.", field="send_at")
    if schedule == ScheduleKind.AT and send_at is None:
        raise Invalid("Enter a date and time.", field="send_at")
    if send_at is not None and send_at <= now:
        raise Invalid("The send time must be in the future.", field="send_at")
    recurrence = campaign_schedule.normalise(data.recurrence) if schedule == ScheduleKind.RECURRING else {}
    quiet = str(data.quiet_hours or "").strip()
    try:
        policy.parse_quiet_hours(quiet)
    except ValueError as exc:
        raise Invalid("Quiet hours look like 22:00-08:00.", field="quiet_hours") from exc
    days = _int(data.conversion_days, 1, 90, "Count conversions over 1 to 90 days.", "conversion_days")
    return {"name": name, "dealer_id": data.dealer_id, "segment_id": data.segment_id, "channel": channel,
            "variants": variants, "holdout_pct": holdout, "schedule": schedule, "send_at": send_at,
            "recurrence": recurrence, "quiet_hours": quiet, "conversion_days": days}


def _staff(s: Session, scope: Scope) -> StaffUser | None:
    return s.get(StaffUser, scope.staff_id) if scope.staff_id is not None else None


def _audit(s: Session, scope: Scope, action: str, c: Campaign, **detail: Any) -> None:
    audit.record(s, staff=_staff(s, scope), action=action, target_type="campaign", target_id=c.id,
                 detail={"name": c.name, **detail}, account_id=scope.account_id, dealer_id=c.dealer_id)


def create(scope: Scope, data: CampaignInput) -> Campaign:
    """A new draft campaign."""
    scope.require(Perm.CAMPAIGNS_MANAGE)
    with db.transaction() as s:
        values = check(s, scope, data, utcnow())
        c = Campaign(account_id=scope.account_id, status=CampaignStatus.DRAFT, created_by=scope.staff_id, **values)
        s.add(c)
        s.flush()
        _audit(s, scope, "campaign.create", c)
    return c


def _draft(s: Session, scope: Scope, campaign_id: int, lock: bool = False) -> Campaign:
    c = scope.get(s, Campaign, campaign_id)
    if lock and db.is_postgres():
        s.execute(sa.select(Campaign.id).where(Campaign.id == c.id).with_for_update())
        s.refresh(c)
    return c


def update(scope: Scope, campaign_id: int, data: CampaignInput) -> Campaign:
    """Edit a draft; a launched campaign cannot change."""
    scope.require(Perm.CAMPAIGNS_MANAGE)
    with db.transaction() as s:
        c = _draft(s, scope, campaign_id, lock=True)
        if c.status != CampaignStatus.DRAFT:
            raise Invalid("Only a draft campaign can be edited.")
        for key, value in check(s, scope, data, utcnow()).items():
            setattr(c, key, value)
        c.updated_at = utcnow()
        _audit(s, scope, "campaign.update", c)
    return c


def get(scope: Scope, campaign_id: int) -> Campaign:
    """One campaign in scope, else NotFound."""
    scope.require(Perm.CAMPAIGNS_MANAGE)
    return scope.get(db.session(), Campaign, campaign_id)


def listing(scope: Scope, status: str | None = None, page: int = 1) -> Page[Campaign]:
    """Campaigns in scope, newest first, optionally of one status."""
    scope.require(Perm.CAMPAIGNS_MANAGE)
    stmt = scope.apply(sa.select(Campaign), Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc())
    if status in set(CampaignStatus):
        stmt = stmt.where(Campaign.status == CampaignStatus(str(status)))
    return paginate(db.session(), stmt, page)


def duplicate(scope: Scope, campaign_id: int) -> Campaign:
    """A draft copy of a campaign (any status), to send again or to change."""
    scope.require(Perm.CAMPAIGNS_MANAGE)
    with db.transaction() as s:
        src = scope.get(s, Campaign, campaign_id)
        copy = Campaign(account_id=src.account_id, dealer_id=src.dealer_id, name=(src.name + " (copy)")[:100],
                        segment_id=src.segment_id, channel=src.channel, variants=list(src.variants),
                        holdout_pct=src.holdout_pct, schedule=src.schedule, recurrence=dict(src.recurrence),
                        send_at=src.send_at if src.send_at and src.send_at > utcnow() else None,
                        quiet_hours=src.quiet_hours, conversion_days=src.conversion_days,
                        status=CampaignStatus.DRAFT, created_by=scope.staff_id)
        if copy.schedule == ScheduleKind.AT and copy.send_at is None:
            copy.schedule = ScheduleKind.NOW
        s.add(copy)
        s.flush()
        _audit(s, scope, "campaign.duplicate", copy, source=src.id)
    return copy


def _input_of(c: Campaign) -> CampaignInput:
    return CampaignInput(name=c.name, dealer_id=c.dealer_id, segment_id=c.segment_id, channel=str(c.channel),
                         variants=list(c.variants), holdout_pct=c.holdout_pct, schedule=str(c.schedule),
                         send_at=c.send_at, recurrence=dict(c.recurrence), quiet_hours=c.quiet_hours,
                         conversion_days=c.conversion_days)


def launch(scope: Scope, campaign_id: int, now: datetime | None = None) -> Campaign:
    """Check everything again, then send now (inline when small), or schedule the first run."""
    scope.require(Perm.CAMPAIGNS_MANAGE)
    now = now or utcnow()
    with db.transaction() as s:
        c = _draft(s, scope, campaign_id, lock=True)
        if c.status != CampaignStatus.DRAFT:
            raise Invalid("Only a draft campaign can be launched.")
        check(s, scope, _input_of(c), now)
        urls = [u for v in c.variants for u in compose.urls(v["message"])]
        links.ensure(s, c.account_id, urls, campaign_id=c.id)
        c.launched_at, c.launched_by, c.updated_at = now, scope.staff_id, now
        if c.schedule == ScheduleKind.NOW:
            c.next_run_at = None
            size = campaign_dryrun.audience_size(s, c, now)
            if size <= INLINE_MAX:
                campaign_run.start_run(s, c, now)
            else:
                c.status, c.next_run_at = CampaignStatus.SCHEDULED, now
        elif c.schedule == ScheduleKind.AT:
            c.status, c.next_run_at = CampaignStatus.SCHEDULED, c.send_at
        else:
            first = c.send_at or campaign_schedule.next_run(c.recurrence, now, runtime.get().settings.app.tz)
            if first is None:
                raise Invalid("The repetition ends before its first run.", field="recurrence")
            c.status, c.next_run_at = CampaignStatus.SCHEDULED, first
        _audit(s, scope, "campaign.launch", c, schedule=str(c.schedule))
    campaign_render.forget(campaign_id)
    return c


def pause(scope: Scope, campaign_id: int) -> Campaign:
    """Hold a running or scheduled campaign's unsent rows."""
    scope.require(Perm.CAMPAIGNS_MANAGE)
    with db.transaction() as s:
        c = _draft(s, scope, campaign_id, lock=True)
        held = campaign_run.pause(s, c, "staff")
        _audit(s, scope, "campaign.pause", c, held=held)
    campaign_render.forget(campaign_id)
    return c


def resume(scope: Scope, campaign_id: int) -> Campaign:
    """Release a paused campaign's rows (or put it back to waiting for its time)."""
    scope.require(Perm.CAMPAIGNS_MANAGE)
    with db.transaction() as s:
        c = _draft(s, scope, campaign_id, lock=True)
        released = campaign_run.resume(s, c)
        _audit(s, scope, "campaign.resume", c, released=released)
    campaign_render.forget(campaign_id)
    return c


def cancel(scope: Scope, campaign_id: int) -> Campaign:
    """Cancel a campaign for good: its unsent rows are cancelled and it never runs again."""
    scope.require(Perm.CAMPAIGNS_MANAGE)
    with db.transaction() as s:
        c = _draft(s, scope, campaign_id, lock=True)
        if c.status == CampaignStatus.DRAFT:
            c.status, c.cancelled_at = CampaignStatus.CANCELLED, utcnow()
            cancelled = 0
        else:
            cancelled = campaign_run.cancel(s, c)
        _audit(s, scope, "campaign.cancel", c, cancelled=cancelled)
    campaign_render.forget(campaign_id)
    return c
