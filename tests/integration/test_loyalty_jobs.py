"""The loyalty jobs with a chosen `now`: expiry, tiers + drop warnings, expiry warnings, verify; and the CLI."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from scrm import db, runtime
from scrm.cli import main
from scrm.jobs import loyalty_jobs
from scrm.models import Delivery, LoyaltySettings, Member, PointsEntry, Trigger
from scrm.services import ledger
from scrm.services.accounts import account_id
from tests.factories import make_follower
from tests.integration.loyalty_support import make_tiers
from tests.integration.outbox_helpers import all_deliveries, to_toml

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def notices(prefix: str) -> list[Delivery]:
    """Loyalty notices whose dedupe key starts with `prefix`."""
    return [d for d in all_deliveries() if d.dedupe_key.startswith(prefix)]


def earned(points: int, at: datetime, key: str) -> int:
    """A new member paid `points` at `at` (a booking's rule); its id."""
    f = make_follower()
    with db.transaction() as s:
        m = ledger.member_in(s, f.id)
        ledger.earn_in(s, m.id, Trigger.BOOKING_COMPLETED, key=key, source="booking", points=points, now=at)
        return m.id


def balance(member_id: int) -> int:
    """The member's cached balance, freshly read."""
    db.session.remove()
    m = db.session.get(Member, member_id)
    assert m is not None
    return m.balance


def test_tier_drop_warning_once_a_month_before_the_tier_would_drop(app_ctx: Any) -> None:
    _silver, gold, _platinum = make_tiers()
    at_risk = earned(1200, NOW - timedelta(days=340), "old")     # leaves the 12-month window in 25 days
    safe = earned(1200, NOW - timedelta(days=100), "recent")
    assert loyalty_jobs.refresh_tiers(NOW) == 0                  # both are still gold today
    [d] = notices("loyalty:tier_drop:")
    assert d.dedupe_key == f"loyalty:tier_drop:{at_risk}:{gold.id}:2026-11"
    text = d.payload["custom"]["text"]["content"]
    assert "您的金卡等级将在 30 天内降级" in text and "在 2026年12月23日 前再获得 1000 积分即可保级" in text
    assert d.next_try_at.replace(tzinfo=UTC) <= db.utcnow()     # 10:00 local: at once
    loyalty_jobs.refresh_tiers(NOW + timedelta(days=1))
    assert len(notices("loyalty:tier_drop:")) == 1               # one per member, tier and month
    assert not notices(f"loyalty:tier_drop:{safe}:")


def test_a_warning_computed_at_night_waits_for_the_morning(app_ctx: Any) -> None:
    make_tiers()
    earned(1200, NOW - timedelta(days=340), "old")
    night = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)            # 03:00 on the 24th in Shanghai
    loyalty_jobs.refresh_tiers(night)
    [d] = notices("loyalty:tier_drop:")
    assert d.next_try_at.replace(tzinfo=UTC) == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 09:00 local


def test_expiry_warning_sums_the_lots_expiring_in_the_window(app_ctx: Any) -> None:
    with db.transaction() as s:
        s.add(LoyaltySettings(account_id=account_id("demo"), valid_months=1, expiry_warning_days=30))
    member = earned(300, NOW, "a")                               # expires 2026-12-31 local
    with db.transaction() as s:
        ledger.earn_in(s, member, Trigger.BOOKING_COMPLETED, key="b", source="booking", points=200,
                       now=NOW + timedelta(days=5))              # still November: also December's month end
        ledger.earn_in(s, member, Trigger.BOOKING_COMPLETED, key="c", source="booking", points=50,
                       now=NOW + timedelta(days=20))             # expires 2027-01-31: not yet
        ledger.spend_in(s, member, 100, reason="redemption", key="r", source="reward", now=NOW + timedelta(days=20))
    assert loyalty_jobs.expiry_warnings(NOW) == 0                # 38 days ahead: too early
    assert loyalty_jobs.expiry_warnings(NOW + timedelta(days=20)) == 1
    [d] = notices("loyalty:expiry:")
    assert d.dedupe_key == f"loyalty:expiry:{member}:2026-12"
    text = d.payload["custom"]["text"]["content"]
    assert "您有 400 积分将于 2026年12月31日 过期。" in text and "积分余额：450" in text
    assert loyalty_jobs.expiry_warnings(NOW + timedelta(days=21)) == 0   # one per member and expiry month


def test_expire_job_and_verify_job(app_ctx: Any, caplog: pytest.LogCaptureFixture) -> None:
    with db.transaction() as s:
        s.add(LoyaltySettings(account_id=account_id("demo"), valid_months=1))
    member = earned(300, NOW, "a")
    assert loyalty_jobs.expire(NOW + timedelta(days=30)) == 0
    assert loyalty_jobs.expire(NOW + timedelta(days=40)) == 1
    assert balance(member) == 0
    with db.transaction() as s:
        s.execute(sa.update(Member).where(Member.id == member).values(balance=999))
    with caplog.at_level(logging.ERROR, logger="scrm.jobs.loyalty_jobs"):
        assert loyalty_jobs.verify() == 1
    assert f"member {member} has balance 999 but the ledger says 0" in caplog.text
    assert balance(member) == 999                                # the job fixes nothing


@pytest.fixture
def config(app_ctx: Any, settings: Any, settings_dict: dict[str, Any], tmp_path: Path) -> Any:
    """The test settings as a TOML file (the CLI builds its own app from it), restored afterwards."""
    path = tmp_path / "cli.toml"
    path.write_text(to_toml(settings_dict), encoding="utf-8")
    yield path
    runtime.init(settings)


def test_cli_verify_and_fix_then_expire(config: Path) -> None:
    with db.transaction() as s:
        s.add(LoyaltySettings(account_id=account_id("demo"), valid_months=1))
    member = earned(300, datetime.now(UTC) - timedelta(days=70), "a")   # already past its expiry
    with db.transaction() as s:
        s.execute(sa.update(Member).where(Member.id == member).values(balance=250))
    run = CliRunner()
    found = run.invoke(main, ["--config", str(config), "loyalty", "verify"])
    assert found.exit_code == 1 and f"member {member}: balance 250, ledger 300" in found.output
    assert balance(member) == 250
    fixed = run.invoke(main, ["--config", str(config), "loyalty", "verify", "--fix"], catch_exceptions=False)
    assert fixed.exit_code == 0 and "(fixed)" in fixed.output and balance(member) == 300
    clean = run.invoke(main, ["--config", str(config), "loyalty", "verify"], catch_exceptions=False)
    assert clean.exit_code == 0 and "0 mismatched balances" in clean.output
    expired = run.invoke(main, ["--config", str(config), "loyalty", "expire"], catch_exceptions=False)
    assert expired.exit_code == 0 and "1 lots expired" in expired.output
    assert balance(member) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(PointsEntry)) == 2
