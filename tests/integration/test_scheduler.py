"""The scheduler: job table, defaults, the single-instance guard, and what the jobs do."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler

from scrm import db, runtime
from scrm.db import utcnow
from scrm.jobs import scheduler as sched_mod
from scrm.jobs import table
from scrm.models import Channel, Delivery, DeliveryStatus
from scrm.outbox.enqueue import enqueue
from scrm.services.accounts import account_id
from scrm.wechat.token import TokenStore
from tests.integration.outbox_helpers import override_settings, reload_delivery, seed_token, to_toml

pytestmark = pytest.mark.integration


def test_job_ids_are_explicit_and_unique() -> None:
    ids = [job.id for job in table.JOBS]
    assert len(ids) == len(set(ids))
    assert {"outbox.reap", "tokens.refresh"} <= set(ids)


def test_enabled_jobs_patterns() -> None:
    assert [j.id for j in table.selected(("*",))] == [j.id for j in table.JOBS]
    assert [j.id for j in table.selected(("outbox.*",))] == ["outbox.reap"]
    assert table.selected(("",)) == []
    assert table.unknown_patterns(("outbox.reap", "outbox.reaper")) == ["outbox.reaper"]


@pytest.fixture
def background(app: Any) -> Any:
    started: list[BackgroundScheduler] = []

    def start() -> BackgroundScheduler:
        s = sched_mod.start_background(app)
        started.append(s)
        return s

    yield start
    for s in started:
        s.shutdown(wait=False)


def test_background_scheduler_has_the_table_with_defaults(background: Any) -> None:
    sched = background()
    ids = {job.id for job in sched.get_jobs()}
    assert ids == {"outbox.reap", "tokens.refresh", "bookings.remind", "loyalty.expire", "loyalty.tiers",
                   "loyalty.expiry_warnings", "loyalty.verify", "referrals.bindings", "referrals.purchases",
                   "loyalty.earn_repairs", "loyalty.earn_birthdays", "loyalty.earn_profiles", "badges.recheck",
                   "club.remind", "club.no_shows", "rewards.expire_vouchers", "campaigns.tick",
                   "journeys.tick", "analytics.nightly", "analytics.today", "tasks.rules",
                   sched_mod.HEARTBEAT_ID}
    reap = sched.get_job("outbox.reap")
    assert reap.coalesce is True and reap.max_instances == 1 and reap.misfire_grace_time == 300
    assert reap.trigger.interval == timedelta(minutes=1)
    assert sched.get_job("tokens.refresh").trigger.interval == timedelta(minutes=5)


def test_only_enabled_jobs_are_scheduled(background: Any) -> None:
    s = runtime.get().settings
    only = dataclasses.replace(s.scheduler, enabled_jobs=("tokens.*",))
    with override_settings(scheduler=only):
        sched = background()
    assert {job.id for job in sched.get_jobs()} == {"tokens.refresh", sched_mod.HEARTBEAT_ID}


def test_a_second_scheduler_is_refused(background: Any, app: Any, capsys: pytest.CaptureFixture[str]) -> None:
    first = background()
    with pytest.raises(sched_mod.SchedulerAlreadyRunning):
        sched_mod.start_background(app)
    with pytest.raises(SystemExit) as exc:
        sched_mod.run_scheduler(app)
    assert exc.value.code == 1
    assert "another scheduler is already running" in capsys.readouterr().err
    first.shutdown(wait=False)
    # Once the first one stops, its lock is released and a new one may start.
    second = background()
    assert second.running


def test_losing_the_lock_stops_the_scheduler(background: Any) -> None:
    sched = background()
    guard = sched.guard
    assert guard.renew() is True
    runtime.get().redis.set(guard.key, "someone-else")
    sched.get_job(sched_mod.HEARTBEAT_ID).func()
    assert not sched.running
    assert runtime.get().redis.get(guard.key) == "someone-else"    # not ours to release


def test_reap_job_runs_in_the_app_context(background: Any) -> None:
    with db.transaction() as s:
        row_id = enqueue(s, account_id=account_id("demo"), dedupe_key="stale", channel=Channel.CUSTOM,
                         payload={"msgtype": "text", "text": {"content": "x"}}, openid="o_stale")
    lease = runtime.get().settings.outbox.lease_seconds
    with db.transaction() as s:
        s.execute(sa.update(Delivery).where(Delivery.id == row_id)
                  .values(status=DeliveryStatus.SENDING, claimed_by="dead",
                          claimed_at=utcnow() - timedelta(seconds=lease + 5)))
    sched = background()
    assert sched.get_job("outbox.reap").func() == 1
    assert reload_delivery(row_id).status == DeliveryStatus.UNKNOWN


def test_token_refresh_job_refreshes_expiring_tokens(live_server: Any, background: Any, settings: Any) -> None:
    demo, safe = settings.accounts["demo"], settings.accounts["safe"]
    seed_token(demo, "expiring-soon", expires_in=300)
    seed_token(safe, "fresh-enough", expires_in=3600)
    sched = background()
    assert sched.get_job("tokens.refresh").func() == {"demo": True, "safe": False}
    assert TokenStore(demo).get() != "expiring-soon"
    assert TokenStore(safe).get() == "fresh-enough"


def test_scheduler_process_runs_alone_and_stops_on_sigterm(live_server: Any, settings_dict: dict[str, Any],
                                                          tmp_path: Path, redis_url: str) -> None:
    if redis_url.startswith("memory://"):
        pytest.skip("the lock is shared through Redis: the in-process stand-in cannot be seen by another process")
    config = tmp_path / "scheduler.toml"
    config.write_text(to_toml({**settings_dict, "sandbox": {"enabled": False}}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRM_")}
    cmd = [str(Path(sys.executable).with_name("scrm")), "--config", str(config), "scheduler"]
    key = runtime.get().key("lock", "scheduler")
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not runtime.get().redis.get(key) and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.1)
        holder = runtime.get().redis.get(key)
        assert holder and holder.split(":")[1] == str(first.pid)
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert "another scheduler is already running" in second.stderr
        first.send_signal(signal.SIGTERM)
        assert first.wait(20) == 0
        assert runtime.get().redis.get(key) is None                # the lock was given back
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(5)
