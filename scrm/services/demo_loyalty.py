"""Demo loyalty for `scrm demo`: the points policy, earning rules with caps, tiers, badges, a rewards
catalogue per dealer, upcoming club events, and a few weeks of check-ins and visits for the demo
followers (through the real ledger, so balances, tiers and lots are true)."""

from __future__ import annotations

import random
import secrets
from datetime import datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.models import (
    Audience,
    Badge,
    BadgeRule,
    ClubEvent,
    Dealer,
    EarningRule,
    EventStatus,
    Follower,
    LoyaltySettings,
    Reward,
    Tier,
    Trigger,
)
from scrm.services import ledger, tiers

RULES: list[tuple[Trigger, int, dict[str, object]]] = [
    (Trigger.CHECKIN, 5, {"daily_cap": 5}),
    (Trigger.STREAK_BONUS, 30, {"params": {"days": 7}}),
    (Trigger.BINDING, 100, {}),
    (Trigger.PROFILE_COMPLETED, 50, {}),
    (Trigger.BOOKING_COMPLETED, 50, {"monthly_cap": 200}),
    (Trigger.REPAIR_ORDER, 1, {"per_amount": 10, "monthly_cap": 3000}),
    (Trigger.EVENT_ATTENDED, 30, {}),
    (Trigger.BIRTHDAY, 200, {}),
    (Trigger.REFERRAL_BIND, 100, {"monthly_cap": 500}),
    (Trigger.REFERRAL_TEST_DRIVE, 200, {"monthly_cap": 1000}),
    (Trigger.REFERRAL_PURCHASE, 1000, {}),
]
TIERS = [("member", "普通会员", 0, "生日礼遇；积分兑换精品"),
         ("silver", "银卡会员", 500, "保养工时 95 折；专属客服"),
         ("gold", "金卡会员", 2000, "保养工时 9 折；免费洗车每月 2 次；活动优先报名"),
         ("platinum", "白金会员", 6000, "保养工时 85 折；代步车优先；年度车主盛典邀请")]
BADGES = [("first_service", "首次保养", "完成第一次到店保养", "🔧", BadgeRule.FIRST_SERVICE, 1),
          ("streak7", "连续签到7天", "连续签到满 7 天", "🔥", BadgeRule.CHECKIN_STREAK, 7),
          ("club3", "俱乐部常客", "参加 3 次车主活动", "🎉", BadgeRule.CLUB_REGULAR, 3),
          ("referrer3", "推荐达人", "成功邀请 3 位好友绑定", "🤝", BadgeRule.TOP_REFERRER, 3),
          ("loyal5", "老朋友", "完成 5 次预约到店", "🏅", BadgeRule.BOOKINGS, 5)]
REWARDS = [("精致洗车券", "门店精致洗车一次（含内饰除尘）", 200, 50, 2),
           ("机油滤芯免费更换", "保养时免费更换原厂机油滤芯一个", 800, 20, 1),
           ("原厂 1:43 车模", "品牌原厂授权合金车模", 1500, 10, 1),
           ("四轮定位检测", "专业四轮定位检测一次", 600, 30, 1)]
EVENTS = [("周末自驾：千岛湖一日游", "车主自驾结伴，途中安排补给与合影。", "门店停车场集合", 9, 12, 30, 30),
          ("新车主用车课堂", "资深技师讲解日常用车、保养与应急处理。", "门店二楼培训室", 16, 20, 1, 20)]


def seed_loyalty(s: Session, acc_id: int, dealers: list[Dealer], now: datetime) -> dict[str, int]:
    """Add the demo loyalty rows and activity; return counts."""
    s.add(LoyaltySettings(account_id=acc_id, valid_months=24, expiry_warning_days=30, tier_warning_days=30))
    for trigger, points, extra in RULES:
        s.add(EarningRule(account_id=acc_id, trigger=trigger, points=points, **extra))
    for i, (code, name, threshold, benefits) in enumerate(TIERS):
        s.add(Tier(account_id=acc_id, code=code, name=name, threshold=threshold, benefits=benefits, sort_order=i))
    for i, (code, name, desc, icon, rule, threshold) in enumerate(BADGES):
        s.add(Badge(account_id=acc_id, code=code, name=name, description=desc, icon=icon, rule=rule,
                    threshold=threshold, sort_order=i))
    rewards = events = 0
    for dealer in dealers:
        for i, (name, desc, cost, stock, limit) in enumerate(REWARDS):
            s.add(Reward(account_id=acc_id, dealer_id=dealer.id, name=name, description=desc, cost=cost, stock=stock,
                         per_member_limit=limit, voucher_days=30, sort_order=i))
            rewards += 1
        for days, (title, desc, place, hour, hours_long, cap, points) in zip((5, 12), EVENTS, strict=True):
            start = datetime.combine((now + timedelta(days=days)).date(), time(hour), ledger.local_tz())
            s.add(ClubEvent(account_id=acc_id, dealer_id=dealer.id, title=title, description=desc, place=place,
                            starts_at=start, ends_at=start + timedelta(hours=min(hours_long, 8)),
                            registration_deadline=start - timedelta(days=1), capacity=cap, max_companions=2,
                            points=points, audience=Audience.ALL, status=EventStatus.PUBLISHED,
                            checkin_token=secrets.token_hex(8), published_at=now))
            events += 1
    s.flush()
    return {"rewards": rewards, "events": events, "entries": _activity(s, acc_id, now)}


def _activity(s: Session, acc_id: int, now: datetime) -> int:
    """A few weeks of check-ins and some visits for the subscribed demo followers."""
    rng = random.Random(20261123)
    written = 0
    followers = list(s.scalars(sa.select(Follower.id).where(Follower.account_id == acc_id,
                                                            Follower.subscribed.is_(True)).order_by(Follower.id)))
    for follower_id in followers[:40]:
        m = ledger.member_in(s, follower_id)
        for back in range(rng.randint(3, 40), 0, -1):
            if rng.random() < 0.7:
                day = now - timedelta(days=back)
                local = day.astimezone(ledger.local_tz()).date()
                if ledger.earn_in(s, m.id, Trigger.CHECKIN, key=f"checkin:{m.id}:{local.isoformat()}",
                                  source="member", now=day).points:
                    written += 1
                m.streak = m.streak + 1 if m.last_checkin_on == local - timedelta(days=1) else 1
                m.best_streak = max(m.best_streak, m.streak)
                m.last_checkin_on = local
        for n in range(rng.randint(0, 3)):
            when = now - timedelta(days=rng.randint(20, 300))
            amount = rng.choice((680, 1280, 2350, 4200))
            if ledger.earn_in(s, m.id, Trigger.REPAIR_ORDER, key=f"demo-visit:{m.id}:{n}", source="repair_order",
                              amount=amount, now=when).points:
                written += 1
        tiers.refresh_in(s, m, now)  # the entries were written back in time: the tier as of today
    return written
