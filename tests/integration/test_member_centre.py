"""The H5 member centre: figures from the ledger, 签到 once, paged history, sign-in, English."""

from __future__ import annotations

import dataclasses
import re
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Badge, BadgeRule, MemberBadge, PointsEntry, Trigger
from scrm.services import ledger
from tests.factories import make_follower
from tests.integration.admin_support import csrf_from
from tests.integration.loyalty_support import make_rule, make_tiers

pytestmark = pytest.mark.integration


def _signed_in(client: Any, openid: str, slug: str = "demo") -> None:
    """What the WeChat web authorization leaves in the session."""
    with client.session_transaction() as sess:
        sess["h5"] = {slug: {"openid": openid, "at": time.time()}}


def _earn(member_id: int, points: int, key: str, days_ago: int = 0, trigger: Trigger = Trigger.EVENT_ATTENDED) -> None:
    with db.transaction() as s:
        ledger.earn_in(s, member_id, trigger, key=key, source="test", points=points,
                       now=db.utcnow() - timedelta(days=days_ago))


def _page(client: Any, query: str = "") -> str:
    resp = client.get(f"/h5/demo/member{query}")
    assert resp.status_code == 200, resp.status_code
    return str(resp.get_data(as_text=True))


def _member(client: Any) -> tuple[int, int]:
    """A signed-in follower with a member row; (follower id, member id)."""
    f = make_follower()
    with db.transaction() as s:
        m = ledger.member_in(s, f.id)
        member_id = m.id
    _signed_in(client, f.openid)
    return f.id, member_id


def test_figures_come_from_the_ledger(client: Any) -> None:
    make_tiers()
    _f, mid = _member(client)
    _earn(mid, 800, "a", days_ago=30)
    _earn(mid, 400, "b", days_ago=2, trigger=Trigger.BIRTHDAY)
    with db.transaction() as s:
        ledger.spend_in(s, mid, 300, reason="redemption", key="spend-1", source="reward")
        lot = s.scalar(sa.select(PointsEntry).where(PointsEntry.idempotency_key == "b"))
        assert lot is not None
        lot.expires_at = db.utcnow() + timedelta(days=10)   # soon: inside the 30-day warning
        badge = Badge(account_id=lot.account_id, code="early", name="早起鸟", icon="🐦", rule=BadgeRule.MANUAL)
        s.add(badge)
        s.flush()
        s.add(MemberBadge(member_id=mid, badge_id=badge.id))
    html = _page(client)
    assert 'data-balance="900"' in html                       # 800 + 400 - 300
    assert "会员等级：金卡" in html and "金卡权益" in html          # 1,200 earned: gold, its benefits
    assert "再获得 3,800 积分即可升级为白金卡" in html
    assert 'data-percent="5"' in html                          # (1200-1000)/(5000-1000)
    assert "-300" in html and "兑换礼品" in html and "生日礼" in html and "+400" in html
    assert html.index("-300") < html.index("+400") < html.index("+800")   # newest first
    assert re.search(r"400 积分将于 .*过期", html)   # the soon lot: 400 left (the spend drew on the older lot)
    assert "🐦" in html and "早起鸟" in html and "data-no-badges" not in html


def test_check_in_once_from_the_button(client: Any) -> None:
    make_rule(Trigger.CHECKIN, 5)
    _f, mid = _member(client)
    html = _page(client)
    assert "data-no-badges" in html and "data-no-history" in html and "签到</button>" in html
    token = csrf_from(html)
    assert client.post("/h5/demo/member/checkin", data={}).status_code == 400        # no CSRF token: refused
    resp = client.post("/h5/demo/member/checkin", data={"csrf_token": token})
    assert resp.status_code == 302 and resp.location.endswith("/h5/demo/member#checkin")
    html = _page(client)
    assert "签到成功！+5 积分，已连续签到 1 天。" in html and "今日已签到" in html and 'data-balance="5"' in html
    assert "每日签到" in html
    client.post("/h5/demo/member/checkin", data={"csrf_token": token})
    html = _page(client)
    assert "今天已经签过到了" in html and 'data-balance="5"' in html
    assert "签到成功" not in _page(client)                         # the outcome shows once
    with db.transaction() as s:
        n = s.scalar(sa.select(sa.func.count()).select_from(PointsEntry).where(PointsEntry.member_id == mid))
    assert n == 1
    assert ledger.verify() == []


def test_history_is_paged_newest_first(client: Any) -> None:
    _f, mid = _member(client)
    for n in range(25):
        _earn(mid, n + 1, f"k{n}", days_ago=25 - n)   # 25 points is the newest
    first = _page(client)
    assert first.count("data-entry") == 20 and "+25" in first and 'rel="next"' in first and "1 / 2" in first
    second = _page(client, "?page=2")
    assert second.count("data-entry") == 5 and "+1<" in second and 'rel="prev"' in second
    assert "+25" not in second
    assert _page(client, "?page=abc").count("data-entry") == 20   # bad input: the first page


def test_not_signed_in_goes_to_wechat(client: Any) -> None:
    resp = client.get("/h5/demo/member")
    assert resp.status_code == 302 and "oauth2/authorize" in resp.location
    assert client.post("/h5/demo/member/checkin").status_code == 400  # no session, no token: nothing happens


def test_english_and_account_link(client: Any, app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = app.extensions["scrm.settings"]
    english = dataclasses.replace(settings.accounts["demo"], language="en")
    monkeypatch.setitem(app.extensions, "scrm.settings", dataclasses.replace(
        settings, accounts={**settings.accounts, "demo": english}))
    make_rule(Trigger.CHECKIN, 5)
    _f, _mid = _member(client)
    html = _page(client)
    assert "Member centre" in html and "Check in today" in html and "No badges yet" in html
    client.post("/h5/demo/member/checkin", data={"csrf_token": csrf_from(html)})
    html = _page(client)
    assert "Checked in! +5 points, 1 day in a row." in html and "Daily check-in" in html
    home = client.get("/h5/demo/").get_data(as_text=True)
    assert "/h5/demo/member" in home and "Member centre" in home
