"""Lead scores on crafted data with known answers: each part, its cap, the cap at 100, who is a prospect,
and a re-run that replaces the rows but keeps the last invitation."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.db import utcnow
from scrm.models import (
    Booking,
    BookingSource,
    BookingStatus,
    Budget,
    BuyTimeline,
    Dealer,
    Direction,
    Follower,
    LeadIntent,
    LeadScore,
    LinkClick,
    MessageLog,
    Role,
    Stage,
    TrackedLink,
)
from scrm.services import lead_scoring
from scrm.services.accounts import account_id
from tests.factories import make_follower, make_staff
from tests.integration.booking_support import Shop, make_shop
from tests.integration.customer_support import bind, make_customer, make_vehicle

pytestmark = pytest.mark.integration
_seq = itertools.count(1)


def _place(shop: Shop) -> Dealer:
    with db.transaction() as s:
        d = s.get_one(Dealer, shop.dealer.id)
        d.latitude, d.longitude = Decimal("31.230000"), Decimal("121.470000")
    return shop.dealer


def _log(f: Follower, msg_type: str, *, event: str = "", content: str = "", ago: timedelta = timedelta(hours=1),
         n: int = 1) -> None:
    with db.transaction() as s:
        for _ in range(n):
            s.add(MessageLog(account_id=f.account_id, follower_id=f.id, direction=Direction.IN, msg_type=msg_type,
                             event=event, content=content, created_at=utcnow() - ago))


def _clicks(f: Follower, n: int, ago: timedelta = timedelta(days=1)) -> None:
    with db.transaction() as s:
        link = TrackedLink(account_id=f.account_id, token=f"t{next(_seq):06d}", url=f"https://x.test/{next(_seq)}")
        s.add(link)
        s.flush()
        s.add_all([LinkClick(link_id=link.id, account_id=f.account_id, follower_id=f.id,
                             clicked_at=utcnow() - ago) for _ in range(n)])


def _intent(f: Follower, timeline: BuyTimeline | None, budget: Budget | None, model: str = "") -> None:
    with db.transaction() as s:
        s.add(LeadIntent(account_id=f.account_id, dealer_id=f.dealer_id, follower_id=f.id, model=model,
                         budget=budget, timeline=timeline))


def _run(now: datetime | None = None) -> dict[int, LeadScore]:
    with db.transaction() as s:
        lead_scoring.score_all(s, account_id("demo"), now or utcnow())
    db.session.expire_all()
    return {r.follower_id: r for r in db.session.scalars(sa.select(LeadScore))}


def _parts(row: LeadScore) -> dict[str, tuple[int, Any]]:
    return {p["code"]: (p["points"], p["value"]) for p in row.parts}


def test_each_part_and_its_cap(app_ctx: Any) -> None:
    shop = make_shop()
    d = _place(shop)
    # 6 menu taps (18 -> capped 15), 5 link clicks (20 -> 16), asked about both models (16), recent text (5),
    # 3.5 km away (12), referred (8): engagement 72; intent 25 + 5 + 3 = 33; total 105 -> 100
    hot = make_follower(dealer_id=d.id, latitude=Decimal("31.250000"), longitude=Decimal("121.490000"))
    ref = make_follower(dealer_id=d.id)
    with db.transaction() as s:
        s.get_one(Follower, hot.id).referrer_id = ref.id
    _log(hot, "event", event="click", n=4)
    _log(hot, "event", event="VIEW", n=2)
    _log(hot, "event", event="click", ago=timedelta(days=40))         # too old
    _log(hot, "event", event="subscribe")                            # not a menu tap
    _clicks(hot, 5)
    _log(hot, "text", content="极氪001多少钱？", ago=timedelta(days=60))
    _log(hot, "text", content="那极氪007呢", ago=timedelta(days=2))
    _intent(hot, BuyTimeline.WITHIN_1M, Budget.FROM_200K, "极氪001")
    # a quiet one: one old message about 007, 200 km away, just looking, no budget, a test drive done
    quiet = make_follower(dealer_id=d.id, latitude=Decimal("32.900000"), longitude=Decimal("121.470000"))
    _log(quiet, "text", content="007 还有现车吗 极氪007", ago=timedelta(days=20))
    _intent(quiet, BuyTimeline.JUST_LOOKING, None)
    with db.transaction() as s:
        start = utcnow() - timedelta(days=5)
        s.add(Booking(account_id=d.account_id, dealer_id=d.id, follower_id=quiet.id, service_type_id=shop.test_drive.id,
                      start_at=start, end_at=start + timedelta(minutes=30), status=BookingStatus.COMPLETED,
                      source=BookingSource.H5, request_key=f"k{next(_seq)}"))
    rows = _run()
    p = _parts(rows[hot.id])
    assert p["menu_taps"] == (15, 6) and p["link_clicks"] == (16, 5) and p["models_asked"] == (16, 2)
    assert p["recent_message"] == (5, 1) and p["distance"][0] == 12 and 2.5 < p["distance"][1] < 3.5
    assert p["referred"] == (8, 1) and p["timeline"] == (25, "within_1m") and p["budget"] == (5, "200k_300k")
    assert p["model"] == (3, "极氪001")
    assert rows[hot.id].engagement == 72 and rows[hot.id].intent == 33 and rows[hot.id].score == 100
    assert sorted(rows[hot.id].models) == ["极氪001", "极氪007"]
    q = _parts(rows[quiet.id])
    assert q["models_asked"] == (8, 1) and "recent_message" not in q and q["distance"][0] == -5
    assert q["test_drive_done"] == (-20, 1) and q["timeline"] == (0, "just_looking") and "budget" not in q
    assert rows[quiet.id].score == 0 and rows[quiet.id].engagement == 8 - 5 - 20
    assert float(rows[quiet.id].distance_km or 0) == pytest.approx(186.6, abs=1)


def test_distance_bands(app_ctx: Any) -> None:
    d = _place(make_shop())
    near = {25: 8, 50: 4, 100: 0}
    made = {km: make_follower(dealer_id=d.id, latitude=Decimal("31.230000") + Decimal(km) / Decimal("111.2"),
                              longitude=Decimal("121.470000")) for km in near}
    rows = _run()
    for km, points in near.items():
        assert _parts(rows[made[km].id]).get("distance", (0, 0))[0] == points, km


def test_owners_staff_and_unfollowed_are_not_prospects_and_invited_at_survives(app_ctx: Any) -> None:
    d = _place(make_shop())
    lead = make_follower(dealer_id=d.id)
    owner_stage = make_follower(dealer_id=d.id)
    bind(make_customer(d, stage=Stage.OWNER), owner_stage)
    with_car = make_follower(dealer_id=d.id)
    c = make_customer(d, stage=Stage.PROSPECT)
    bind(c, with_car)
    make_vehicle(c)
    staff_f = make_follower(dealer_id=d.id)
    make_staff(Role.DEALER_STAFF, dealer=d, follower_id=staff_f.id)
    gone = make_follower(dealer_id=d.id, subscribed=False)
    prospect = make_follower(dealer_id=d.id)
    pc = make_customer(d, stage=Stage.PROSPECT)
    bind(pc, prospect)
    _intent(lead, BuyTimeline.WITHIN_3M, None)
    rows = _run()
    assert set(rows) == {lead.id, prospect.id}
    assert rows[prospect.id].customer_id == pc.id and rows[lead.id].score == 18
    invited = utcnow() - timedelta(days=3)
    with db.transaction() as s:
        s.get_one(LeadScore, rows[lead.id].id).invited_at = invited
    make_vehicle(pc)                                    # bought a car: no longer a lead
    rows = _run()
    assert set(rows) == {lead.id}
    assert rows[lead.id].invited_at == invited and rows[lead.id].score == 18
    assert gone.id not in rows and owner_stage.id not in rows and with_car.id not in rows and staff_f.id not in rows


def test_a_second_night_rewrites_only_the_scores_that_changed(app_ctx: Any) -> None:
    d = _place(make_shop())
    still = make_follower(dealer_id=d.id)
    moved = make_follower(dealer_id=d.id)
    _intent(still, BuyTimeline.WITHIN_3M, None)
    _intent(moved, BuyTimeline.LATER, None)
    first = utcnow() - timedelta(days=1)
    rows = _run(first)
    assert rows[still.id].scored_at == first and rows[moved.id].score == 3
    with db.transaction() as s:
        s.scalars(sa.select(LeadIntent).where(LeadIntent.follower_id == moved.id)).one().timeline = \
            BuyTimeline.WITHIN_1M
    second = utcnow()
    rows = _run(second)
    assert rows[moved.id].score == 25 and rows[moved.id].scored_at == second
    assert rows[still.id].score == 18 and rows[still.id].scored_at == first       # untouched
    with db.transaction() as s:                                                   # nobody left: all rows go
        s.execute(sa.update(Follower).where(Follower.id.in_([still.id, moved.id])).values(subscribed=False))
    assert _run() == {}
