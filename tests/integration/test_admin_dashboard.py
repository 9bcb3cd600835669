"""Dashboard figures and the followers list, scoped by dealer."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scrm import db
from scrm.models import Direction, MessageLog, Role, SceneKind
from scrm.services import dashboard
from scrm.services.accounts import account_id
from scrm.services.follower_admin import window_open
from scrm.services.scope import Scope
from tests.factories import make_dealer, make_follower, make_staff
from tests.integration.admin_support import signed_in, text

pytestmark = pytest.mark.integration

# 12:00 in Shanghai on a fixed day, so "today" and "7 days" do not depend on when the test runs.
NOON = datetime(2025, 6, 18, 4, 0, tzinfo=UTC)


def _log(follower_id: int | None, direction: Direction, msg_type: str = "text", at: datetime = NOON) -> None:
    with db.transaction() as s:
        s.add(MessageLog(account_id=account_id("demo"), follower_id=follower_id, direction=direction,
                         msg_type=msg_type, created_at=at))


def _world() -> dict[str, Any]:
    a, b = make_dealer(code="A01"), make_dealer(code="B01")
    f = [
        make_follower(dealer_id=a.id, scene_kind=SceneKind.DEALER, subscribed_at=NOON - timedelta(hours=1)),
        make_follower(dealer_id=a.id, scene_kind=SceneKind.STAFF, subscribed_at=NOON - timedelta(days=3)),
        make_follower(dealer_id=a.id, scene_kind=SceneKind.REFERRAL, subscribed_at=NOON - timedelta(days=20)),
        make_follower(dealer_id=a.id, scene_kind=SceneKind.DEALER, subscribed=False,
                      subscribed_at=NOON - timedelta(days=40), unsubscribed_at=NOON - timedelta(hours=2)),
        make_follower(dealer_id=b.id, scene_kind=SceneKind.EVENT, subscribed_at=NOON - timedelta(minutes=5)),
        make_follower(dealer_id=b.id, scene_kind=SceneKind.DEALER, subscribed_at=NOON - timedelta(days=100)),
        make_follower(scene_kind=SceneKind.NONE, subscribed_at=NOON - timedelta(days=6)),
    ]
    _log(f[0].id, Direction.IN)
    _log(f[0].id, Direction.OUT)
    _log(f[0].id, Direction.IN, msg_type="event")  # events are not messages
    _log(f[4].id, Direction.IN)
    _log(f[6].id, Direction.IN)
    _log(f[6].id, Direction.IN, at=NOON - timedelta(days=1))  # yesterday
    return {"a": a, "b": b, "f": f}


def test_brand_admin_figures(app_ctx: Any) -> None:
    w = _world()
    admin = make_staff(Role.BRAND_ADMIN)
    st = dashboard.stats(Scope.of(admin), now=NOON)
    assert (st.followers_total, st.following) == (7, 6)
    assert st.new_follows["today"] == {"dealer": 1, "staff": 0, "referral": 0, "event": 1, "bind": 0, "other": 0,
                                       "none": 0}
    assert st.new_total("7d") == 4 and st.new_follows["7d"]["none"] == 1
    assert st.new_total("30d") == 5
    assert st.unfollows == {"today": 1, "7d": 1, "30d": 1}
    assert (st.messages_in_today, st.replies_today) == (3, 1)
    assert {d["code"]: (d["following"], d["new_30d"]) for d in st.by_dealer} == {"A01": (3, 3), "B01": (2, 1)}
    one = dashboard.stats(Scope.of(admin), w["b"].id, now=NOON)
    assert (one.followers_total, one.new_total("today"), one.messages_in_today, one.by_dealer) == (2, 1, 1, [])


def test_dealer_roles_see_their_dealer_only(app_ctx: Any) -> None:
    w = _world()
    manager = make_staff(Role.DEALER_MANAGER, dealer=w["a"])
    st = dashboard.stats(Scope.of(manager), now=NOON)
    assert (st.followers_total, st.following, st.new_total("30d")) == (4, 3, 3)
    assert (st.messages_in_today, st.replies_today, st.by_dealer) == (1, 1, [])


def test_dashboard_page(client: Any) -> None:
    w = _world()
    signed_in(client, Role.BRAND_ADMIN)
    page = text(client.get("/admin/"))
    assert re.search(r'data-stat="total">7<', page) and re.search(r'data-stat="following">6<', page)
    assert "A01" in page and "B01" in page
    narrowed = text(client.get(f"/admin/?dealer={w['b'].id}"))
    assert re.search(r'data-stat="total">2<', narrowed)
    assert client.get("/admin/?dealer=abc").status_code == 404
    other = make_dealer(account="safe")
    assert client.get(f"/admin/?dealer={other.id}").status_code == 404


def test_dealer_cannot_widen_the_dashboard(client: Any) -> None:
    w = _world()
    signed_in(client, Role.DEALER_STAFF, dealer=w["a"])
    page = text(client.get(f"/admin/?dealer={w['b'].id}"))  # ignored: not theirs to pick
    assert re.search(r'data-stat="total">4<', page) and 'id="dealer-pick"' not in page


def test_followers_list_filters_and_scope(client: Any) -> None:
    w = _world()
    make_follower(dealer_id=w["a"].id, remark="VIP 王先生", openid="oVIPfollower_openid_0001")
    signed_in(client, Role.BRAND_ADMIN)
    assert text(client.get("/admin/followers/")).count("data-openid=") == 8
    assert text(client.get("/admin/followers/?following=no")).count("data-openid=") == 1
    assert text(client.get("/admin/followers/?scene=dealer")).count("data-openid=") == 3
    assert text(client.get(f"/admin/followers/?dealer={w['b'].id}")).count("data-openid=") == 2
    found = text(client.get("/admin/followers/?q=王先生"))
    assert found.count("data-openid=") == 1 and "oVIPfoll…0001" in found
    assert text(client.get("/admin/followers/?q=oVIPfollower")).count("data-openid=") == 1
    assert text(client.get("/admin/followers/?q=%25")).count("data-openid=") == 0  # "%" is literal, not a wildcard
    staff_client = client.application.test_client()
    signed_in(staff_client, Role.DEALER_STAFF, dealer=w["b"])
    page = text(staff_client.get(f"/admin/followers/?dealer={w['a'].id}"))
    assert page.count("data-openid=") == 2  # only dealer B's, whatever the query says


def test_followers_sorting_and_pages(client: Any) -> None:
    now = db.utcnow()
    for i in range(51):
        make_follower(openid=f"o_sort_{i:03d}_openid_padding", last_interaction_at=now - timedelta(minutes=i))
    signed_in(client, Role.BRAND_ADMIN)
    first = text(client.get("/admin/followers/"))
    openids = re.findall(r'data-openid="([^"]+)"', first)
    assert len(openids) == 50 and openids[0] == "o_sort_000_openid_padding"
    assert "第 1–50 条，共 51 条" in first and "?page=2" in first
    second = re.findall(r'data-openid="([^"]+)"', text(client.get("/admin/followers/?page=2")))
    assert second == ["o_sort_050_openid_padding"]
    oldest = re.findall(r'data-openid="([^"]+)"', text(client.get("/admin/followers/?sort=oldest")))
    assert oldest[0] == "o_sort_050_openid_padding"
    assert re.findall(r'data-openid="([^"]+)"', text(client.get("/admin/followers/?page=99"))) == second


def test_window_open(app_ctx: Any) -> None:
    now = db.utcnow()
    recent = make_follower(last_interaction_at=now - timedelta(hours=47), interaction_kind="message")
    old = make_follower(last_interaction_at=now - timedelta(hours=49), interaction_kind="message")
    clicked = make_follower(last_interaction_at=now - timedelta(hours=1), interaction_kind="click",
                            last_message_at=now - timedelta(hours=50))
    gone = make_follower(subscribed=False, last_interaction_at=now)
    assert [window_open(f, now) for f in (recent, old, clicked, gone)] == [True, False, False, False]
