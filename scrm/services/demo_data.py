"""Demo data for `scrm demo` and `scrm seed-demo`: dealers, staff, QR scenes, replies and followers."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db, runtime
from scrm.db import utcnow
from scrm.models import (
    Dealer,
    Direction,
    Follower,
    KeywordReply,
    MatchMode,
    MessageLog,
    QrScene,
    ReplyKind,
    Role,
    SceneKind,
    StaffUser,
)
from scrm.security import hash_password
from scrm.services.accounts import account_id, sync_accounts

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 (printed at start-up; demo only)

DEALERS = [
    dict(code="SH001", name="上海浦东旗舰店", city="上海", address="上海市浦东新区张杨路1888号",
         phone="021-58881234", latitude=Decimal("31.229600"), longitude=Decimal("121.520100"),
         welcome_text="欢迎关注上海浦东旗舰店！回复“地址”查看到店路线，回复“帮助”了解更多服务。"),
    dict(code="SH002", name="上海闵行体验中心", city="上海", address="上海市闵行区沪闵路6088号",
         phone="021-64321888", latitude=Decimal("31.112800"), longitude=Decimal("121.381600"), welcome_text=""),
    dict(code="HZ001", name="杭州滨江店", city="杭州", address="杭州市滨江区江南大道588号",
         phone="0571-86661234", latitude=Decimal("30.208900"), longitude=Decimal("120.211800"), welcome_text=""),
]

STAFF = [
    ("admin", "品牌管理员", Role.BRAND_ADMIN, None),
    ("manager.sh001", "王经理", Role.DEALER_MANAGER, "SH001"),
    ("staff.sh001", "李顾问", Role.DEALER_STAFF, "SH001"),
    ("manager.hz001", "陈经理", Role.DEALER_MANAGER, "HZ001"),
]

KEYWORDS: list[dict[str, Any]] = [
    dict(keyword="地址", match=MatchMode.CONTAINS,
         text="{{ dealer.name }}地址：{{ dealer.address }}\n电话：{{ dealer.phone }}"),
    dict(keyword="电话", match=MatchMode.EXACT,
         text="{{ dealer.name }}服务热线：{{ dealer.phone }}（每天 8:30-18:00）"),
    dict(keyword="营业时间", match=MatchMode.CONTAINS,
         text="展厅：每天 9:00-18:00\n售后：每天 8:30-17:30（节假日照常营业）"),
    dict(keyword="PROMOTIONS", match=MatchMode.EXACT, kind=ReplyKind.NEWS, news_title="本月车主专享：保养套餐 8 折",
         news_description="机油、机滤、空滤三件套，到店出示本消息即可享受。", news_url="https://example.com/promotions",
         news_pic_url=""),
    dict(keyword="优惠", match=MatchMode.CONTAINS, kind=ReplyKind.NEWS, news_title="本月车主专享：保养套餐 8 折",
         news_description="机油、机滤、空滤三件套，到店出示本消息即可享受。", news_url="https://example.com/promotions",
         news_pic_url=""),
    dict(keyword="保养", match=MatchMode.CONTAINS,
         text="常规保养建议每 5000-10000 公里或 6-12 个月一次。点击菜单“车主服务”联系门店，顾问会为您安排。"),
]


def seed(followers: int = 60) -> dict[str, int]:
    """Insert the demo rows once (idempotent: a second run adds nothing) and return counts."""
    sync_accounts()
    settings = runtime.get().settings
    slug = next(iter(settings.accounts))
    acc_id = account_id(slug)
    with db.transaction() as s:
        if s.scalar(sa.select(sa.func.count()).select_from(Dealer).where(Dealer.account_id == acc_id)):
            return {"dealers": 0, "staff": 0, "followers": 0, "keywords": 0, "customers": 0, "bookings": 0,
                    "rewards": 0, "club_events": 0, "points_entries": 0, "segments": 0, "intents": 0}
        dealers = _dealers(s, acc_id)
        staff = _staff(s, acc_id, dealers)
        _scenes(s, acc_id, dealers, staff)
        for kw in KEYWORDS:
            s.add(KeywordReply(account_id=acc_id, **kw))
        count = _followers(s, acc_id, dealers, staff, followers)
        from scrm.services.demo_customers import seed_customers

        customers = seed_customers(s, acc_id, list(dealers.values()))
        from scrm.services.demo_bookings import seed_bookings

        bookings = seed_bookings(s, acc_id, list(dealers.values()))
        from scrm.services.demo_loyalty import seed_loyalty

        loyalty = seed_loyalty(s, acc_id, list(dealers.values()), utcnow())
        from scrm.services.demo_marketing import seed_marketing

        marketing = seed_marketing(s, acc_id, list(dealers.values()), utcnow())
        from scrm.services.demo_analytics import seed_analytics

        analytics = seed_analytics(s, acc_id, list(dealers.values()), utcnow())
        from scrm.services.demo_campaign_history import seed_finished_campaign

        seed_finished_campaign(s, acc_id, next(iter(dealers.values())), utcnow())
        dealer_ids = [d.id for d in dealers.values()]
    from scrm.services.duplicates import detect

    for dealer_id in dealer_ids:  # the planted duplicates wait on the data quality page
        detect(dealer_id)
    return {"dealers": len(dealers), "staff": len(staff), "followers": count, "keywords": len(KEYWORDS),
            "customers": customers, "bookings": bookings + analytics["test_drives"], "rewards": loyalty["rewards"],
            "club_events": loyalty["events"], "points_entries": loyalty["entries"],
            "segments": marketing["segments"], "intents": analytics["intents"]}


def _dealers(s: Session, acc_id: int) -> dict[str, Dealer]:
    out = {}
    for d in DEALERS:
        dealer = Dealer(account_id=acc_id, **d)
        s.add(dealer)
        out[dealer.code] = dealer
    s.flush()
    return out


def _staff(s: Session, acc_id: int, dealers: dict[str, Dealer]) -> list[StaffUser]:
    pw = hash_password(DEMO_PASSWORD)
    users = []
    for username, name, role, code in STAFF:
        user = StaffUser(account_id=acc_id, username=username, display_name=name, password_hash=pw, role=role,
                         dealer_id=dealers[code].id if code else None)
        s.add(user)
        users.append(user)
    s.flush()
    return users


def _scenes(s: Session, acc_id: int, dealers: dict[str, Dealer], staff: list[StaffUser]) -> None:
    for dealer in dealers.values():
        s.add(QrScene(account_id=acc_id, scene=f"dealer:{dealer.code}", kind=SceneKind.DEALER, dealer_id=dealer.id,
                      label=f"{dealer.name}展厅二维码"))
    advisor = next(u for u in staff if u.role == Role.DEALER_STAFF)
    s.add(QrScene(account_id=acc_id, scene=f"staff:{advisor.id}", kind=SceneKind.STAFF, dealer_id=advisor.dealer_id,
                  staff_id=advisor.id, label=f"{advisor.display_name}的名片码"))


def _followers(s: Session, acc_id: int, dealers: dict[str, Dealer], staff: list[StaffUser], n: int) -> int:
    rng = random.Random(20261122)  # the same demo every time
    now = utcnow()
    dealer_list = list(dealers.values())
    advisor = next(u for u in staff if u.role == Role.DEALER_STAFF)
    kinds = [SceneKind.DEALER] * 5 + [SceneKind.STAFF] * 2 + [SceneKind.NONE] * 3 + [SceneKind.OTHER]
    samples = ["地址", "保养多少钱", "你好", "营业时间", "优惠", "预约保养", "电话"]
    for i in range(n):
        kind = rng.choice(kinds)
        dealer = rng.choice(dealer_list) if kind == SceneKind.DEALER else None
        if kind == SceneKind.STAFF:
            dealer = dealers["SH001"]
        followed = now - timedelta(days=rng.randint(0, 60), minutes=rng.randint(0, 1440))
        last = min(now, followed + timedelta(days=rng.randint(0, 20), minutes=rng.randint(0, 600)))
        subscribed = rng.random() > 0.1
        f = Follower(account_id=acc_id, openid=f"oDEMO{i:04d}{rng.randrange(16**12):012x}", subscribed=subscribed,
                     subscribed_at=followed, first_subscribed_at=followed,
                     unsubscribed_at=None if subscribed else last, scene_kind=kind,
                     scene=f"dealer:{dealer.code}" if kind == SceneKind.DEALER and dealer else
                     (f"staff:{advisor.id}" if kind == SceneKind.STAFF else ""),
                     dealer_id=dealer.id if dealer else None,
                     staff_id=advisor.id if kind == SceneKind.STAFF else None,
                     last_interaction_at=last, interaction_kind="message", last_message_at=last)
        s.add(f)
        s.flush()
        for j in range(rng.randint(0, 3)):
            at = min(now, last - timedelta(minutes=j * 7))
            s.add(MessageLog(account_id=acc_id, follower_id=f.id, direction=Direction.IN, msg_type="text",
                             content=rng.choice(samples), created_at=at))
    return n
