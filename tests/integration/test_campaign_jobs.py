"""The campaigns tick: scheduled campaigns start at their time and not before, recurring ones run once per
occurrence, sent campaigns finish, and one broken campaign does not stop the others."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.db import utcnow
from scrm.jobs import campaign_jobs
from scrm.models import CampaignRun, CampaignStatus, Delivery, DeliveryStatus, Segment
from scrm.outbox.worker import drain
from scrm.services import campaign_render, campaigns
from tests.integration.test_campaigns_service import admin, data, fresh, rows, world

pytestmark = pytest.mark.integration

@pytest.fixture(autouse=True)
def _no_stale_plans() -> None:
    campaign_render.forget_all()   # campaign ids restart with each test's fresh tables



def test_an_at_campaign_starts_at_its_time_and_not_before(app_ctx: Any) -> None:
    d, seg, fs = world(2)
    scope = admin()
    at = utcnow() + timedelta(hours=2)
    c = campaigns.create(scope, data(seg, d.id, schedule="at", send_at=at))
    campaigns.launch(scope, c.id)
    assert campaign_jobs.tick(at - timedelta(seconds=1)) == 0
    assert rows(c.id) == [] and fresh(c.id).status == CampaignStatus.SCHEDULED
    assert campaign_jobs.tick(at + timedelta(seconds=5)) == 1
    got = fresh(c.id)
    assert (got.status, got.occurrences, got.next_run_at) == (CampaignStatus.RUNNING, 1, None)
    assert sorted(r.follower_id for r in rows(c.id)) == sorted(f.id for f in fs)
    assert campaign_jobs.tick(at + timedelta(seconds=35)) == 0      # started once
    assert len(rows(c.id)) == 2


def test_recurring_runs_once_per_occurrence_on_ticks_a_day_apart(app_ctx: Any) -> None:
    d, seg, fs = world(1)
    scope = admin()
    c = campaigns.create(scope, data(seg, d.id, schedule="recurring",
                                     recurrence={"every": "day", "at": "09:00", "until": ""}))
    campaigns.launch(scope, c.id)
    first = fresh(c.id).next_run_at
    assert first is not None
    assert campaign_jobs.tick(first + timedelta(seconds=10)) == 1
    assert campaign_jobs.tick(first + timedelta(seconds=40)) == 0
    assert fresh(c.id).next_run_at == first + timedelta(days=1)
    assert campaign_jobs.tick(first + timedelta(days=1, seconds=10)) == 1
    assert campaign_jobs.tick(first + timedelta(days=1, seconds=40)) == 0
    got = rows(c.id)
    assert [r.follower_id for r in got] == [fs[0].id, fs[0].id]
    assert [r.dedupe_key for r in got] == [f"c:{c.id}:1:{fs[0].id}", f"c:{c.id}:2:{fs[0].id}"]
    assert fresh(c.id).occurrences == 2
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(CampaignRun)
                        .where(CampaignRun.campaign_id == c.id)) == 2


def test_recurring_stops_after_until(app_ctx: Any) -> None:
    d, seg, _ = world(1)
    scope = admin()
    c = campaigns.create(scope, data(seg, d.id, schedule="recurring", recurrence={
        "every": "day", "at": "09:00", "until": (utcnow() + timedelta(days=3)).date().isoformat()}))
    campaigns.launch(scope, c.id)
    first = fresh(c.id).next_run_at
    assert first is not None
    ticks = sum(campaign_jobs.tick(first + timedelta(days=i, seconds=5)) for i in range(8))
    assert 2 <= ticks <= 4 and fresh(c.id).next_run_at is None


def test_one_broken_campaign_does_not_stop_the_others(app_ctx: Any) -> None:
    d, seg, _ = world(1)
    d2, seg2, _ = world(1, city="北京")
    scope = admin()
    at = utcnow() + timedelta(hours=1)
    bad = campaigns.create(scope, data(seg, d.id, schedule="at", send_at=at))
    good = campaigns.create(scope, data(seg2, d2.id, schedule="at", send_at=at))
    campaigns.launch(scope, bad.id)
    campaigns.launch(scope, good.id)
    with db.transaction() as s:
        s.get(Segment, seg).archived_at = utcnow()       # the segment went away after launch
    assert campaign_jobs.tick(at + timedelta(seconds=1)) == 1
    broken = fresh(bad.id)
    assert broken.status == CampaignStatus.PAUSED and broken.pause_reason.startswith("error: Invalid")
    assert fresh(good.id).status == CampaignStatus.RUNNING and len(rows(good.id)) == 1


def test_sent_campaigns_finish_and_recurring_ones_wait_again(app_ctx: Any, live_server: Any, settings: Any) -> None:
    app_id = str(settings.accounts["demo"].app_id)
    d, seg, _ = world(2, app_id=app_id)
    scope = admin()
    once = campaigns.create(scope, data(seg, d.id))
    campaigns.launch(scope, once.id)
    rec = campaigns.create(scope, data(seg, d.id, schedule="recurring",
                                       recurrence={"every": "week", "at": "10:00", "weekday": 2}))
    campaigns.launch(scope, rec.id)
    campaign_jobs.tick()
    assert fresh(once.id).status == CampaignStatus.RUNNING        # rows still pending
    assert drain() == 2
    assert {r.status for r in rows(once.id)} == {DeliveryStatus.SENT}
    campaign_jobs.tick()
    done = fresh(once.id)
    assert done.status == CampaignStatus.DONE and done.finished_at is not None
    nxt = fresh(rec.id).next_run_at
    assert nxt is not None
    campaign_jobs.tick(nxt + timedelta(seconds=1))
    assert fresh(rec.id).status == CampaignStatus.RUNNING
    with db.transaction() as s:    # its rows were written for the run's time: let them go now
        s.execute(sa.update(Delivery).where(Delivery.campaign_id == rec.id).values(next_try_at=utcnow()))
    assert drain() == 2
    campaign_jobs.tick(nxt + timedelta(seconds=31))
    again = fresh(rec.id)
    assert again.status == CampaignStatus.SCHEDULED and again.next_run_at == nxt + timedelta(days=7)
    with db.transaction() as s:
        assert s.scalar(sa.select(CampaignRun.finished_at).where(CampaignRun.campaign_id == rec.id)) is not None
