"""Redeeming rewards: stock, limit, validity, balance, double tap; vouchers used once, scoped, expired, cancelled."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import EntryKind, Member, PointsEntry, Redemption, RedemptionStatus, Reward, Role, StaffUser, Trigger
from scrm.services import ledger, rewards, rewards_counter
from scrm.services.accounts import account_id
from scrm.services.errors import Forbidden, Invalid
from scrm.services.scope import Scope
from scrm.services.validation import FormInvalid
from tests.factories import make_dealer, make_staff
from tests.integration.loyalty_support import make_member

pytestmark = pytest.mark.integration
_seq = itertools.count(1)


@dataclass(frozen=True)
class M:
    """A member's ids (rows go stale when a refused redemption rolls back)."""

    id: int
    follower_id: int


def new_member(**follower: Any) -> M:
    """A follower with its member row."""
    m = make_member(**follower)
    return M(m.id, m.follower_id)


def give(m: M, points: int) -> None:
    """Credit `points` to the member through the ledger."""
    with db.transaction() as s:
        ledger.earn_in(s, m.id, Trigger.CHECKIN, key=f"test-give:{next(_seq)}", source="test", points=points)


def make_reward(dealer_id: int | None = None, **kw: Any) -> Reward:
    """A reward of the demo account (account-wide unless `dealer_id`)."""
    values: dict[str, Any] = dict(name="洗车券", description="精洗一次", cost=100, stock=5, voucher_days=30)
    values.update(kw)
    with db.transaction() as s:
        r = Reward(account_id=account_id("demo"), dealer_id=dealer_id, **values)
        s.add(r)
    return r


def _reload(model: Any, ident: int) -> Any:
    db.session.rollback()  # a fresh snapshot: rows committed by the services since
    return db.session.get(model, ident, populate_existing=True)


def test_redeem_takes_stock_spends_points_and_issues_a_voucher(app: Any) -> None:
    m = new_member()
    give(m, 250)
    r = make_reward(cost=100, stock=2, voucher_days=10)
    now = db.utcnow()
    red = rewards.redeem(m.follower_id, r.id, "k1", now)
    assert red.status == RedemptionStatus.ISSUED and red.points == 100
    assert len(red.code) == 10 and not set(red.code) & set("01OI")
    assert red.expires_at == now + timedelta(days=10)
    assert _reload(Reward, r.id).stock == 1
    assert _reload(Member, m.id).balance == 150
    entry = db.session.scalar(sa.select(PointsEntry).where(PointsEntry.idempotency_key == "redeem:k1"))
    assert entry is not None and entry.kind == EntryKind.SPEND and entry.points == -100 and red.entry_id == entry.id
    assert ledger.verify() == []


def test_a_double_tap_returns_the_same_voucher_and_pays_once(app: Any) -> None:
    m = new_member()
    give(m, 500)
    r = make_reward()
    a = rewards.redeem(m.follower_id, r.id, "tap")
    b = rewards.redeem(m.follower_id, r.id, "tap")
    assert a.id == b.id and a.code == b.code
    assert _reload(Reward, r.id).stock == 4 and _reload(Member, m.id).balance == 400
    other = new_member()
    give(other, 500)
    with pytest.raises(Invalid):  # someone else's request key is refused, not answered with their voucher
        rewards.redeem(other.follower_id, r.id, "tap")


def test_not_enough_points_changes_nothing(app: Any) -> None:
    m = new_member()
    give(m, 99)
    r = make_reward(cost=100, stock=3)
    with pytest.raises(ledger.NotEnoughPoints):
        rewards.redeem(m.follower_id, r.id, "poor")
    assert _reload(Reward, r.id).stock == 3 and _reload(Member, m.id).balance == 99
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Redemption)) == 0


def test_sold_out_and_per_member_limit(app: Any) -> None:
    m = new_member()
    give(m, 1000)
    r = make_reward(cost=10, stock=1)
    rewards.redeem(m.follower_id, r.id, "a")
    with pytest.raises(rewards.SoldOut):
        rewards.redeem(m.follower_id, r.id, "b")
    assert _reload(Member, m.id).balance == 990
    limited = make_reward(cost=10, stock=10, per_member_limit=2)
    rewards.redeem(m.follower_id, limited.id, "l1")
    rewards.redeem(m.follower_id, limited.id, "l2")
    with pytest.raises(rewards.LimitReached):
        rewards.redeem(m.follower_id, limited.id, "l3")
    assert _reload(Reward, limited.id).stock == 8


def test_inactive_and_out_of_window_rewards_cannot_be_redeemed(app: Any) -> None:
    m = new_member()
    give(m, 1000)
    now = db.utcnow()
    windows: list[dict[str, Any]] = [{"active": False}, {"valid_from": now + timedelta(days=1)},
                                     {"valid_until": now - timedelta(seconds=1)}]
    for n, kw in enumerate(windows):
        r = make_reward(**kw)
        with pytest.raises(rewards.NotAvailable):
            rewards.redeem(m.follower_id, r.id, f"w{n}", now)
        assert _reload(Reward, r.id).stock == 5
    balance, offers = rewards.offers(m.follower_id, now)
    assert balance == 1000 and offers == []


def test_offers_show_limit_left_and_affordability(app: Any) -> None:
    m = new_member()
    give(m, 150)
    cheap = make_reward(name="A", cost=100, per_member_limit=2, sort_order=1)
    dear = make_reward(name="B", cost=200, sort_order=2)
    rewards.redeem(m.follower_id, cheap.id, "o1")
    balance, items = rewards.offers(m.follower_id)
    assert balance == 50 and [o.reward.id for o in items] == [cheap.id, dear.id]
    assert items[0].limit_left == 1 and not items[0].affordable and not items[0].can_redeem
    assert items[1].limit_left is None and not items[1].affordable


def test_offers_name_the_dealer_and_put_the_members_own_dealer_first(app: Any) -> None:
    home, other = make_dealer(name="浦东店"), make_dealer(name="闵行店")
    m = make_member(dealer_id=home.id)
    far = make_reward(dealer_id=other.id, name="洗车券", sort_order=0)
    near = make_reward(dealer_id=home.id, name="洗车券", sort_order=1)
    everywhere = make_reward(name="车模", sort_order=2)
    _balance, items = rewards.offers(m.follower_id)
    assert [(o.reward.id, o.dealer_name) for o in items] == [(near.id, "浦东店"), (everywhere.id, ""),
                                                             (far.id, "闵行店")]


def test_a_voucher_is_used_once_and_the_second_use_says_by_whom(app: Any) -> None:
    d = make_dealer()
    m = new_member()
    give(m, 100)
    red = rewards.redeem(m.follower_id, make_reward(dealer_id=d.id).id, "u")
    clerk = make_staff(Role.DEALER_STAFF, dealer=d, display_name="王小明")
    clerk_id = clerk.id
    view = rewards_counter.use(clerk, Scope.of(clerk), red.code.lower()[:5] + "-" + red.code.lower()[5:])
    assert view.status == RedemptionStatus.USED and view.used_by_name == "王小明"
    with pytest.raises(rewards_counter.AlreadyUsed) as exc:
        rewards_counter.use(clerk, Scope.of(clerk), red.code)
    assert exc.value.params["who"] == "王小明"
    assert view.used_at is not None
    assert exc.value.params["when"] == view.used_at.astimezone(ledger.local_tz()).strftime("%Y-%m-%d %H:%M")
    row = _reload(Redemption, red.id)
    assert row.used_by == clerk_id and row.status == RedemptionStatus.USED


def test_the_counter_is_scoped_to_the_staff_members_dealer(app: Any) -> None:
    mine, other = make_dealer(name="甲店"), make_dealer(name="乙店")
    m = new_member()
    give(m, 500)
    theirs = rewards.redeem(m.follower_id, make_reward(dealer_id=other.id).id, "s1")
    shared = rewards.redeem(m.follower_id, make_reward(dealer_id=None).id, "s2")
    clerk = make_staff(Role.DEALER_STAFF, dealer=mine)
    looked = rewards_counter.look_up(Scope.of(clerk), theirs.code)
    assert not looked.here and looked.dealer_name == "乙店"
    with pytest.raises(rewards_counter.OtherDealer) as exc:
        rewards_counter.use(clerk, Scope.of(clerk), theirs.code)
    assert exc.value.params["dealer"] == "乙店"
    assert _reload(Redemption, theirs.id).status == RedemptionStatus.ISSUED
    assert rewards_counter.use(clerk, Scope.of(clerk), shared.code).status == RedemptionStatus.USED
    with pytest.raises(rewards_counter.VoucherUnknown):
        rewards_counter.use(clerk, Scope.of(clerk), "ZZZZZZZZZZ")
    stranger = make_staff(Role.DEALER_STAFF, dealer=make_dealer(account="demo"), account="demo")
    assert rewards_counter.look_up(Scope.of(stranger), theirs.code).here is False


def test_the_expiry_job_expires_issued_vouchers_without_refund(app: Any) -> None:
    from scrm.jobs import reward_jobs

    m = new_member()
    give(m, 300)
    r = make_reward(voucher_days=1)
    now = db.utcnow()
    old = rewards.redeem(m.follower_id, r.id, "e1", now - timedelta(days=2))
    fresh = rewards.redeem(m.follower_id, r.id, "e2", now)
    old_id, fresh_id, r_id = old.id, fresh.id, r.id
    clerk = make_staff(Role.BRAND_ADMIN)
    with pytest.raises(rewards_counter.VoucherExpired):  # refused at the counter even before the job runs
        rewards_counter.use(clerk, Scope.of(clerk), old.code, now=now)
    assert reward_jobs.expire_vouchers(now) == 1
    assert _reload(Redemption, old_id).status == RedemptionStatus.EXPIRED
    assert _reload(Redemption, fresh_id).status == RedemptionStatus.ISSUED
    assert _reload(Member, m.id).balance == 100 and _reload(Reward, r_id).stock == 3
    assert reward_jobs.expire_vouchers(now) == 0


def test_cancelling_refunds_points_as_a_staff_adjustment_and_returns_stock(app: Any) -> None:
    d = make_dealer()
    m = new_member()
    give(m, 100)
    r = make_reward(dealer_id=d.id, name="保养券", cost=100, stock=1)
    red = rewards.redeem(m.follower_id, r.id, "c")
    manager = make_staff(Role.DEALER_MANAGER, dealer=d)
    manager_id = manager.id
    clerk = make_staff(Role.DEALER_STAFF, dealer=d)
    with pytest.raises(Forbidden):
        rewards_counter.cancel(clerk, Scope.of(clerk), red.id, "顾客要求")
    with pytest.raises(Invalid):
        rewards_counter.cancel(manager, Scope.of(manager), red.id, "  ")
    view = rewards_counter.cancel(manager, Scope.of(manager), red.id, "顾客要求")
    assert view.status == RedemptionStatus.CANCELLED
    red_id, code = red.id, red.code
    assert _reload(Member, m.id).balance == 100 and _reload(Reward, r.id).stock == 1
    manager = db.session.get_one(StaffUser, manager_id)
    refund = db.session.scalar(sa.select(PointsEntry).where(PointsEntry.idempotency_key == f"refund:{red_id}"))
    assert refund is not None and refund.kind == EntryKind.ADJUST and refund.staff_id == manager_id
    assert refund.note.startswith("退还: 保养券")
    rewards_counter.cancel(manager, Scope.of(manager), red_id, "again")  # a repeat refunds nothing more
    assert _reload(Member, m.id).balance == 100 and _reload(Reward, r.id).stock == 1
    manager = db.session.get_one(StaffUser, manager_id)
    with pytest.raises(rewards_counter.VoucherCancelled):
        rewards_counter.use(manager, Scope.of(manager), code)
    assert ledger.verify() == []


def test_admin_service_checks_every_field(app: Any) -> None:
    from scrm.services import rewards_admin

    admin = make_staff(Role.BRAND_ADMIN)
    with pytest.raises(FormInvalid) as exc:
        rewards_admin.create(admin, Scope.of(admin), rewards_admin.RewardInput(
            name="", cost="0", stock="-1", voucher_days="x", valid_from="2026-12-31", valid_until="2026-12-01"))
    assert {p.field for p in exc.value.problems} == {"name", "cost", "stock", "voucher_days", "valid_until"}
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Reward)) == 0
