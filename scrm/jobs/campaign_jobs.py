"""The campaigns tick (every 30 s): start the campaigns that are due, finish the ones that are sent,
and keep the daily-quota pause visible on the campaigns it holds up.

Each due campaign starts in its own transaction: one that fails is logged, paused with the reason, and
does not stop the others. A recurring campaign's next run is set from its recurrence when it starts.
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa

from scrm import db, runtime
from scrm.db import utcnow
from scrm.models import Campaign, CampaignRun, CampaignStatus, Delivery, DeliveryStatus, ScheduleKind
from scrm.services import campaign_render, campaign_run, campaign_schedule
from scrm.services.campaign_results import quota_paused_until

log = logging.getLogger(__name__)
ACTIVE = (DeliveryStatus.PENDING, DeliveryStatus.HELD, DeliveryStatus.SENDING)
QUOTA = "quota"


def _start(campaign_id: int, now: datetime) -> bool:
    """Start one due campaign's next occurrence; False when it was no longer due."""
    with db.transaction() as s:
        c = s.get(Campaign, campaign_id)
        if c is None:
            return False
        if db.is_postgres():
            s.execute(sa.select(Campaign.id).where(Campaign.id == c.id).with_for_update())
            s.refresh(c)
        due = c.status in (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING)
        if not due or c.next_run_at is None or c.next_run_at > now:
            return False
        campaign_run.start_run(s, c, now)
        c.next_run_at = None
        if c.schedule == ScheduleKind.RECURRING:
            c.next_run_at = campaign_schedule.next_run(c.recurrence, now, runtime.get().settings.app.tz)
    campaign_render.forget(campaign_id)
    return True


def _failed(campaign_id: int, exc: Exception) -> None:
    with db.transaction() as s:
        c = s.get(Campaign, campaign_id)
        if c is not None:
            c.status, c.paused_at = CampaignStatus.PAUSED, utcnow()
            c.pause_reason = f"error: {type(exc).__name__}: {exc}"[:200]


def start_due(now: datetime | None = None) -> int:
    """Start every campaign whose time has come; return how many started."""
    now = now or utcnow()
    with db.transaction() as s:
        ids = list(s.scalars(sa.select(Campaign.id).where(
            Campaign.status.in_([CampaignStatus.SCHEDULED, CampaignStatus.RUNNING]),
            Campaign.next_run_at.isnot(None), Campaign.next_run_at <= now).order_by(Campaign.next_run_at)))
    started = 0
    for cid in ids:
        try:
            started += _start(cid, now)
        except Exception as exc:
            log.exception("campaign %s could not start", cid)
            _failed(cid, exc)
    return started


def finish_sent(now: datetime | None = None) -> int:
    """Mark running campaigns with nothing left to send as done (recurring ones wait for their next run)."""
    now = now or utcnow()
    finished = 0
    with db.transaction() as s:
        active = sa.select(Delivery.id).where(Delivery.campaign_id == Campaign.id, Delivery.status.in_(ACTIVE))
        for c in s.scalars(sa.select(Campaign).where(Campaign.status == CampaignStatus.RUNNING, ~active.exists())):
            s.execute(sa.update(CampaignRun).where(CampaignRun.campaign_id == c.id,
                                                   CampaignRun.finished_at.is_(None)).values(finished_at=now))
            if c.next_run_at is not None:
                c.status = CampaignStatus.SCHEDULED
            else:
                c.status, c.finished_at = CampaignStatus.DONE, now
            c.pause_reason, c.updated_at = "", now
            finished += 1
    return finished


def note_quota(now: datetime | None = None) -> int:
    """Set or clear the "quota" pause reason of running campaigns; return how many are held up by a quota."""
    now = now or utcnow()
    held = 0
    with db.transaction() as s:
        for c in s.scalars(sa.select(Campaign).where(Campaign.status == CampaignStatus.RUNNING)):
            until = quota_paused_until(c)
            if until is not None and until > now:
                c.pause_reason = f"{QUOTA}: daily quota reached, continues at {until.isoformat()}"[:200]
                held += 1
            elif c.pause_reason.startswith(QUOTA):
                c.pause_reason = ""
    return held


def tick(now: datetime | None = None) -> int:
    """The scheduled job: start due campaigns, finish sent ones, note quota pauses; the number started."""
    now = now or utcnow()
    started = start_due(now)
    finish_sent(now)
    note_quota(now)
    return started
