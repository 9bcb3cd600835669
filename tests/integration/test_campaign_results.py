"""Dry run figures (channel mix, excluded, capped, quota, sample problems, timing), live progress, and
results per arm: sends, unique clicks, conversions (bookings and visits after the run) against the holdout."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db, runtime
from scrm.db import utcnow
from scrm.models import (
    Booking,
    BookingSource,
    BookingStatus,
    CampaignMember,
    CampaignRun,
    Channel,
    Delivery,
    DeliveryStatus,
    Follower,
    LinkClick,
    RepairOrder,
    Role,
    TrackedLink,
)
from scrm.outbox import policy
from scrm.outbox.worker import drain
from scrm.services import campaign_dryrun, campaign_render, campaign_results, campaigns
from scrm.services.accounts import account_id
from scrm.services.errors import NotFound
from scrm.services.scope import Scope
from tests.factories import make_follower, make_staff
from tests.integration.booking_support import make_shop
from tests.integration.customer_support import make_customer
from tests.integration.outbox_helpers import override_settings
from tests.integration.test_campaigns_service import TEXT, admin, data, rows, world

pytestmark = pytest.mark.integration

@pytest.fixture(autouse=True)
def _no_stale_plans() -> None:
    campaign_render.forget_all()   # campaign ids restart with each test's fresh tables

_seq = itertools.count(1)
AUTO = {**TEXT, "template": {"template_id": "tpl_1", "url": "", "fields": {"thing1": "{{ vehicle.model }}"}}}


def _sent_row(follower_id: int, **kw: Any) -> None:
    """A marketing send of another campaign, already under the cap and counted in today's quota."""
    now = utcnow()
    with db.transaction() as s:
        s.add(Delivery(account_id=account_id("demo"), follower_id=follower_id, dedupe_key=f"other:{next(_seq)}",
                       channel=Channel.TEMPLATE, purpose="campaign", payload={}, status=DeliveryStatus.SENT,
                       sent_at=now, capped_at=now, channel_used="template", **kw))


def test_dry_run_counts_mix_exclusions_cap_and_quota(app_ctx: Any) -> None:
    d, seg, inside = world(2)
    world(1, dealer=d, window=False)
    _, _, [gone] = world(1, dealer=d)
    make_customer(d, name="没关注", city="上海")                      # no WeChat follower at all
    with db.transaction() as s:
        s.get(Follower, gone.id).subscribed = False
    _sent_row(inside[0].id)
    scope = admin()
    c = campaigns.create(scope, data(seg, d.id, channel="auto", holdout_pct=0,
                                     variants=[{"key": "A", "weight": 100, "message": AUTO}]))
    outbox = runtime.get().settings.outbox
    with override_settings(outbox=replace(outbox, cap_count=1, template_daily_quota=100)):
        dr = campaign_dryrun.dry_run(scope, c.id)
    assert (dr.audience, dr.holdout, dr.per_arm) == (3, 0, {"A": 3})
    assert dr.excluded == {"no_wechat": 1, "unreachable": 1}
    assert dr.channel_mix == {"custom": 2, "template": 1, "skipped_window": 0}
    assert dr.capped == 1
    assert dr.quota["template"] == {"used_today": 1, "this_campaign": 1, "daily": 100}
    assert dr.quota["custom"]["this_campaign"] == 2 and not dr.over_quota and not dr.carries_over
    assert dr.sample_problems == []
    assert rows(c.id) == []                                          # nothing written
    campaigns.update(scope, c.id, data(seg, d.id, channel="custom"))
    assert campaign_dryrun.dry_run(scope, c.id).channel_mix == {"custom": 2, "template": 0, "skipped_window": 1}


def test_dry_run_over_quota_carries_to_the_next_day(app_ctx: Any) -> None:
    d, seg, _ = world(3, window=False)
    scope = admin()
    c = campaigns.create(scope, data(seg, d.id, channel="auto",
                                     variants=[{"key": "A", "weight": 100, "message": AUTO}]))
    now = utcnow()
    outbox = runtime.get().settings.outbox
    with override_settings(outbox=replace(outbox, template_daily_quota=1, rate_per_second=10.0)):
        dr = campaign_dryrun.dry_run(scope, c.id, now=now)
    assert dr.quota["template"]["this_campaign"] == 3 and dr.over_quota and dr.carries_over
    assert dr.rate_per_second == 10.0 and dr.starts_at == now
    assert dr.finishes_at >= policy.next_quota_reset(now)


def test_dry_run_timing_respects_the_campaigns_quiet_hours(app_ctx: Any) -> None:
    tz = runtime.get().settings.app.tz
    now = utcnow()
    local = now.astimezone(tz)
    quiet = f"{(local - timedelta(hours=1)):%H:%M}-{(local + timedelta(hours=2)):%H:%M}"
    d, seg, _ = world(2)
    scope = admin()
    c = campaigns.create(scope, data(seg, d.id, quiet_hours=quiet))
    outbox = runtime.get().settings.outbox
    with override_settings(outbox=replace(outbox, rate_per_second=1.0)):
        dr = campaign_dryrun.dry_run(scope, c.id, now=now)
    assert timedelta(hours=1, minutes=58) < dr.starts_at - now <= timedelta(hours=2)
    assert dr.finishes_at == dr.starts_at + timedelta(seconds=2)


def test_dry_run_samples_a_text_too_long_for_some_customers(app_ctx: Any) -> None:
    d, seg, _ = world(2)
    long_name = "长" * 40
    _, _, [long_one] = world(1, dealer=d, name=long_name)
    scope = admin()
    text = {"kind": "text", "text": "保" * 650 + "{{ customer.name }}"}   # 1,950 bytes before the name
    c = campaigns.create(scope, data(seg, d.id, variants=[{"key": "A", "weight": 100, "message": text}]))
    dr = campaign_dryrun.dry_run(scope, c.id)
    assert [(p.follower_id, p.name, p.arm) for p in dr.sample_problems] == [(long_one.id, long_name + "0", "A")]
    problem = dr.sample_problems[0]
    assert problem.message.startswith("The text is %(n)s bytes") and problem.params["n"] == 1950 + 40 * 3 + 1


def test_other_dealers_dry_run_progress_results_are_not_found(app_ctx: Any) -> None:
    d, seg, _ = world(1)
    other, _, _ = world(1)
    c = campaigns.create(admin(), data(seg, d.id))
    theirs = Scope.of(make_staff(Role.DEALER_MANAGER, dealer=other))
    for call in (campaign_dryrun.dry_run, campaign_results.progress, campaign_results.results):
        with pytest.raises(NotFound):
            call(theirs, c.id)


def _booking(shop: Any, *, customer_id: int | None = None, follower_id: int | None = None,
             created: Any = None, status: BookingStatus = BookingStatus.CONFIRMED) -> None:
    start = utcnow() + timedelta(days=2)
    with db.transaction() as s:
        s.add(Booking(account_id=shop.dealer.account_id, dealer_id=shop.dealer.id, customer_id=customer_id,
                      follower_id=follower_id, service_type_id=shop.maintenance.id, start_at=start,
                      end_at=start + timedelta(hours=1), source=BookingSource.STAFF, status=status,
                      request_key=f"rk{next(_seq)}", created_at=created or utcnow()))


def test_results_per_arm_with_clicks_and_conversions_against_the_holdout(app_ctx: Any, live_server: Any,
                                                                          settings: Any) -> None:
    app_id = str(settings.accounts["demo"].app_id)
    shop = make_shop()
    d, seg, _ = world(30, dealer=shop.dealer, app_id=app_id)
    extra = make_follower(dealer_id=d.id)                      # not in the campaign
    scope = admin()
    variants = [{"key": "A", "weight": 50, "message": TEXT}, {"key": "B", "weight": 50, "message": TEXT}]
    c = campaigns.create(scope, data(seg, d.id, holdout_pct=30, variants=variants, conversion_days=7))
    campaigns.launch(scope, c.id)
    with db.transaction() as s:
        arms = {f: (a, cust) for f, a, cust in s.execute(sa.select(
            CampaignMember.follower_id, CampaignMember.arm, CampaignMember.customer_id)
            .where(CampaignMember.campaign_id == c.id))}
        started = s.scalar(sa.select(CampaignRun.started_at).where(CampaignRun.campaign_id == c.id))
        s.get(Follower, next(f for f, (a, _) in arms.items() if a == "B")).opt_out_marketing = True
    by_arm: dict[str, list[int]] = {}
    for f, (a, _) in sorted(arms.items()):
        by_arm.setdefault(a, []).append(f)
    assert set(by_arm) == {"A", "B", "holdout"} and min(len(v) for v in by_arm.values()) >= 2
    drain()
    prog = campaign_results.progress(scope, c.id)
    assert (prog.total, prog.done, prog.percent) == (30 - len(by_arm["holdout"]),) * 2 + (100,)
    assert prog.by_status["skipped"] == 1 and prog.by_status["held"] == 0
    a1, a2 = by_arm["A"][:2]
    h1, h2 = by_arm["holdout"][:2]
    b_sent = next(f for f in by_arm["B"] if any(r.follower_id == f and r.status == DeliveryStatus.SENT
                                                for r in rows(c.id)))
    _booking(shop, customer_id=arms[a1][1])                      # converts (by customer)
    _booking(shop, follower_id=a2, status=BookingStatus.CANCELLED)  # a cancelled booking does not count
    _booking(shop, follower_id=h1)                               # the holdout converts too (by follower)
    _booking(shop, customer_id=arms[h2][1], created=started - timedelta(hours=1))   # before the run
    _booking(shop, follower_id=extra.id)                         # not a member
    with db.transaction() as s:                                  # a visit 3 days after the run
        s.add(RepairOrder(account_id=d.account_id, dealer_id=d.id, customer_id=arms[b_sent][1], external_id="RO1",
                          date=(started + timedelta(days=3)).date()))
        token = s.scalar(sa.select(TrackedLink.id).where(TrackedLink.campaign_id == c.id))
        a1_row = s.scalar(sa.select(Delivery.id).where(Delivery.campaign_id == c.id, Delivery.follower_id == a1))
        for _ in range(2):                                       # two clicks, one follower
            s.add(LinkClick(link_id=token, account_id=d.account_id, follower_id=a1, delivery_id=a1_row))
    res = campaign_results.results(scope, c.id)
    got = {arm.key: arm for arm in res.arms}
    assert list(got) == ["A", "B", "holdout"]
    assert [got[k].members for k in got] == [len(by_arm[k]) for k in got]
    assert got["A"].sent == len(by_arm["A"]) and got["B"].sent == len(by_arm["B"]) - 1
    assert got["B"].skipped == 1 and got["holdout"].sent == 0
    assert (got["A"].clicks, got["B"].clicks) == (1, 0)
    assert (got["A"].conversions, got["B"].conversions, got["holdout"].conversions) == (1, 1, 1)
    hold_rate = 1 / len(by_arm["holdout"])
    assert got["A"].rate == pytest.approx(1 / len(by_arm["A"]))
    assert got["A"].lift == pytest.approx(round((1 / len(by_arm["A"]) - hold_rate) * 100, 1))
    assert got["holdout"].lift is None
    assert res.reasons == [("skipped", "opt_out", 1)]
    assert [r.occurrence for r in res.runs] == [1]
