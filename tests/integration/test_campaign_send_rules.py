"""Campaign rows through the real outbox and the sandbox: channel per recipient, opt-outs, the frequency cap
across campaigns, the campaign's quiet hours, the daily quota pause (reported by the tick), 43004."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from scrm import db, runtime
from scrm.db import utcnow
from scrm.jobs import campaign_jobs
from scrm.models import CampaignStatus, DeliveryStatus, Follower
from scrm.outbox import policy
from scrm.outbox.worker import drain
from scrm.sandbox import state as sandbox
from scrm.services import campaign_render, campaign_results, campaigns
from scrm.services.accounts import account_id
from tests.integration.outbox_helpers import override_settings
from tests.integration.test_campaigns_service import TEXT, admin, data, fresh, rows, world

pytestmark = pytest.mark.integration

@pytest.fixture(autouse=True)
def _no_stale_plans() -> None:
    campaign_render.forget_all()   # campaign ids restart with each test's fresh tables



@pytest.fixture
def app_id(live_server: Any, app_ctx: Any, settings: Any) -> str:
    return str(settings.accounts["demo"].app_id)


@pytest.fixture
def message(app_id: str) -> dict[str, Any]:
    """A text plus a template message: what an AUTO campaign needs."""
    tid = sandbox.add_template(app_id, "保养提醒", "车辆：{{thing1.DATA}}\n内容：{{thing2.DATA}}")
    return {**TEXT, "template": {"template_id": tid, "url": "https://dealer.example.com/t",
                                 "fields": {"thing1": "{{ vehicle.model }}", "thing2": "该保养了"}}}


def _launch(seg: int, dealer_id: int, **kw: Any) -> int:
    scope = admin()
    c = campaigns.create(scope, data(seg, dealer_id, **kw))
    campaigns.launch(scope, c.id)
    return c.id


def test_auto_picks_custom_inside_the_window_and_template_outside(app_id: str, message: dict[str, Any]) -> None:
    d, seg, [inside] = world(1, app_id=app_id)
    _, _, [outside] = world(1, dealer=d, app_id=app_id, window=False)
    cid = _launch(seg, d.id, channel="auto", variants=[{"key": "A", "weight": 100, "message": message}])
    assert drain() == 2
    used = {r.follower_id: (r.status, r.channel_used) for r in rows(cid)}
    assert used == {inside.id: (DeliveryStatus.SENT, "custom"), outside.id: (DeliveryStatus.SENT, "template")}
    assert [m["via"] for m in sandbox.messages_for(app_id, inside.openid)] == ["custom"]
    got = sandbox.messages_for(app_id, outside.openid)
    assert [m["via"] for m in got] == ["template"] and "Model Y" in str(got[0])


def test_custom_only_skips_followers_outside_the_window(app_id: str) -> None:
    d, seg, [inside] = world(1, app_id=app_id)
    _, _, [outside] = world(1, dealer=d, app_id=app_id, window=False)
    cid = _launch(seg, d.id)
    drain()
    got = {r.follower_id: (r.status, r.result) for r in rows(cid)}
    assert got[inside.id][0] == DeliveryStatus.SENT
    assert got[outside.id] == (DeliveryStatus.SKIPPED, "window_closed")
    assert sandbox.messages_for(app_id, outside.openid) == []


def test_never_to_followers_who_unsubscribed_or_opted_out_after_launch(app_id: str) -> None:
    d, seg, fs = world(3, app_id=app_id)
    cid = _launch(seg, d.id)
    with db.transaction() as s:
        s.get(Follower, fs[0].id).subscribed = False
        s.get(Follower, fs[1].id).opt_out_marketing = True
    drain()
    got = {r.follower_id: (r.status, r.result) for r in rows(cid)}
    assert got[fs[0].id] == (DeliveryStatus.SKIPPED, "unsubscribed")
    assert got[fs[1].id] == (DeliveryStatus.SKIPPED, "opt_out")
    assert got[fs[2].id][0] == DeliveryStatus.SENT
    assert sandbox.messages_for(app_id, fs[0].openid) == [] and sandbox.messages_for(app_id, fs[1].openid) == []


def test_frequency_cap_holds_across_campaigns(app_id: str, settings: Any) -> None:
    d, seg, [f] = world(1, app_id=app_id)
    outbox = runtime.get().settings.outbox
    with override_settings(outbox=replace(outbox, cap_count=1, cap_days=7)):
        first = _launch(seg, d.id, name="第一")
        drain()
        second = _launch(seg, d.id, name="第二")
        drain()
    assert [r.status for r in rows(first)] == [DeliveryStatus.SENT]
    assert [(r.status, r.result) for r in rows(second)] == [(DeliveryStatus.SKIPPED, "capped")]
    assert len(sandbox.messages_for(app_id, f.openid)) == 1


def test_the_campaigns_quiet_hours_hold_rows_until_they_end(app_id: str) -> None:
    tz = runtime.get().settings.app.tz
    local = utcnow().astimezone(tz)
    start, end = (local - timedelta(hours=1)).strftime("%H:%M"), (local + timedelta(hours=1)).strftime("%H:%M")
    d, seg, [f] = world(1, app_id=app_id)
    cid = _launch(seg, d.id, quiet_hours=f"{start}-{end}")
    drain()
    [row] = rows(cid)
    assert row.status == DeliveryStatus.PENDING and row.error == "quiet hours"
    assert row.next_try_at > utcnow() + timedelta(minutes=55)
    assert sandbox.messages_for(app_id, f.openid) == []


def test_quota_exhausted_parks_the_rest_and_the_tick_reports_it(app_id: str, message: dict[str, Any]) -> None:
    sandbox.set_quota(app_id, "template_send", 0)
    d, seg, fs = world(3, app_id=app_id, window=False)
    cid = _launch(seg, d.id, channel="template", variants=[{"key": "A", "weight": 100, "message": message}])
    drain()
    reset = policy.next_quota_reset(utcnow())
    got = rows(cid)
    assert {r.status for r in got} == {DeliveryStatus.PENDING} and {r.next_try_at for r in got} == {reset}
    assert all(sandbox.messages_for(app_id, f.openid) == [] for f in fs)
    campaign_jobs.tick()
    c = fresh(cid)
    assert c.status == CampaignStatus.RUNNING and c.pause_reason.startswith("quota")
    prog = campaign_results.progress(admin(), cid)
    assert prog.quota_paused_until is not None and abs((prog.quota_paused_until - reset).total_seconds()) < 2
    assert prog.by_status["pending"] == 3 and prog.eta is not None and prog.eta >= prog.quota_paused_until
    policy.resume(account_id("demo"), "template")           # the quota came back
    campaign_jobs.tick()
    assert fresh(cid).pause_reason == ""


def test_43004_marks_the_follower_unsubscribed(app_id: str) -> None:
    d, seg, [f] = world(1, app_id=app_id)
    sandbox.unsubscribe(sandbox.app(app_id), f.openid)      # WeChat knows; we have not heard yet
    cid = _launch(seg, d.id)
    drain()
    [row] = rows(cid)
    assert row.status == DeliveryStatus.FAILED and row.error_code == 43004
    db.session.remove()
    assert db.session.get(Follower, f.id).subscribed is False
