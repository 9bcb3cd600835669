"""THE invariant: no double send, with four real worker processes against one PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from scrm import db
from scrm.models import Channel, DeliveryStatus
from scrm.outbox.enqueue import enqueue
from scrm.sandbox import state as sandbox
from scrm.services.accounts import account_id
from tests.factories import make_follower
from tests.integration.outbox_helpers import all_deliveries, to_toml

pytestmark = pytest.mark.integration
SCRM = Path(sys.executable).with_name("scrm")
FOLLOWERS = 100
PER_FOLLOWER = 3          # within the 5 customer-service messages of a 48-hour window
WORKERS = 4


def test_four_workers_send_every_row_exactly_once(live_server: Any, app_ctx: Any, settings: Any,
                                                  settings_dict: dict[str, Any], tmp_path: Path) -> None:
    if not db.is_postgres():
        pytest.skip("concurrent workers need PostgreSQL (SKIP LOCKED)")
    app_id = settings.accounts["demo"].app_id
    followers = [make_follower(interaction_kind="message") for _ in range(FOLLOWERS)]
    for f in followers:
        sandbox.add_follower(app_id, f.openid)
    with db.transaction() as s:
        for n in range(PER_FOLLOWER):
            for f in followers:
                enqueue(s, account_id=account_id("demo"), dedupe_key=f"conc:{f.id}:{n}", channel=Channel.CUSTOM,
                        payload={"msgtype": "text", "text": {"content": f"第{n + 1}条"}},
                        follower_id=f.id, openid=f.openid)
    total = FOLLOWERS * PER_FOLLOWER
    assert len(all_deliveries()) == total

    # Small batches and a rate that makes the run last about 5 s, so all four workers overlap.
    raw = {**settings_dict, "sandbox": {"enabled": False},
           "outbox": {**settings_dict["outbox"], "batch_size": 5, "rate_per_second": 60.0, "burst": 5}}
    config = tmp_path / "workers.toml"
    config.write_text(to_toml(raw), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRM_")}
    procs = [subprocess.Popen([str(SCRM), "--config", str(config), "worker", "--once", "--name", f"w{i}"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(WORKERS)]
    try:
        outputs = [p.communicate(timeout=90) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]

    rows = all_deliveries()
    assert Counter(r.status for r in rows) == {DeliveryStatus.SENT: total}, [r.error for r in rows if r.error][:5]
    assert all(r.attempts == 1 for r in rows)
    workers_used = Counter(r.claimed_by for r in rows)
    assert len(workers_used) >= 3, workers_used                # they really ran side by side
    assert set(workers_used) <= {f"w{i}" for i in range(WORKERS)}
    for f in followers:
        got = [m["body"]["content"] for m in sandbox.messages_for(app_id, f.openid)]
        assert sorted(got) == [f"第{n + 1}条" for n in range(PER_FOLLOWER)], (f.openid, got)


def test_sigterm_finishes_the_current_row_and_hands_back_the_rest(live_server: Any, app_ctx: Any, settings: Any,
                                                                   settings_dict: dict[str, Any],
                                                                   tmp_path: Path) -> None:
    app_id = settings.accounts["demo"].app_id
    f = make_follower(interaction_kind="message")
    sandbox.add_follower(app_id, f.openid)
    with db.transaction() as s:
        for n in range(5):
            enqueue(s, account_id=account_id("demo"), dedupe_key=f"term:{n}", channel=Channel.CUSTOM,
                    payload={"msgtype": "text", "text": {"content": f"m{n}"}}, follower_id=f.id, openid=f.openid)
    raw = {**settings_dict, "sandbox": {"enabled": False},
           "outbox": {**settings_dict["outbox"], "batch_size": 5, "rate_per_second": 2.0, "burst": 1}}
    config = tmp_path / "worker.toml"
    config.write_text(to_toml(raw), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCRM_")}
    proc = subprocess.Popen([str(SCRM), "--config", str(config), "worker", "--name", "slow"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not sandbox.messages_for(app_id, f.openid) and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    rows = all_deliveries()
    sent = [r for r in rows if r.status == DeliveryStatus.SENT]
    waiting = [r for r in rows if r.status == DeliveryStatus.PENDING]
    assert 1 <= len(sent) < 5
    assert len(sent) + len(waiting) == 5                       # nothing left `sending`, nothing unknown
    assert all(r.attempts == 0 and r.claimed_by == "" for r in waiting)
    assert len(sandbox.messages_for(app_id, f.openid)) == len(sent)
