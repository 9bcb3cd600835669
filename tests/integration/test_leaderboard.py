"""The monthly leaderboard: ranks with ties, local month boundaries, per home dealer, the member's own rank."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import requests

import scrm.h5.leaderboard  # noqa: F401  (registers h5.leaderboard until scrm/h5/__init__.py imports it)
from scrm import db
from scrm.models import Member, Trigger
from scrm.sandbox import state
from scrm.sandbox.rules import PHONE_COOKIE
from scrm.services import leaderboard, ledger
from scrm.services.errors import Invalid
from tests.factories import make_dealer, make_follower
from tests.integration.loyalty_support import make_member
from tests.integration.sandbox_api import DEMO_APP

pytestmark = pytest.mark.integration
NOV = date(2026, 11, 1)
MID = datetime(2026, 11, 15, 4, 0, tzinfo=UTC)
OPENID = "oLeaderboard0000000000000042"


def _phone() -> requests.Session:
    """A sandbox phone signed in as OPENID (the H5 pages sign in through the sandbox's OAuth)."""
    state.add_follower(DEMO_APP, OPENID)
    s = requests.Session()
    s.cookies.set(PHONE_COOKIE + DEMO_APP, OPENID, path="/sandbox")
    return s


def earn(m: Member, points: int, at: datetime, n: int = 0) -> None:
    with db.transaction() as s:
        ledger.earn_in(s, m.id, Trigger.CHECKIN, key=f"lb:{m.id}:{at.isoformat()}:{n}", source="member",
                       points=points, now=at)


def test_ranks_share_ties_and_only_earned_points_count(app_ctx: Any) -> None:
    d = make_dealer()
    a, b, c, e = (make_member(dealer_id=d.id, remark=r) for r in ("张伟", "李", "", "王小明"))
    earn(a, 50, MID)
    earn(b, 30, MID)
    earn(b, 20, MID, 1)          # 50 too: a tie
    earn(c, 40, MID)
    earn(e, 10, MID)
    with db.transaction() as s:  # spending does not lower the month's earned points
        ledger.spend_in(s, e.id, 5, reason="redemption", key=f"spend:{e.id}", source="member", now=MID)
    board = leaderboard.board(d.account_id, d.id, NOV)
    assert [(p.rank, p.points) for p in board.places] == [(1, 50), (1, 50), (3, 40), (4, 10)]
    assert [p.member_id for p in board.places][:2] == sorted([a.id, b.id])
    names = {p.member_id: p.name for p in board.places}
    assert (names[a.id], names[b.id], names[c.id], names[e.id]) == ("张*", "李*", "", "王**")
    tail = next(p.tail for p in board.places if p.member_id == c.id)
    assert len(tail) == 4 and board.me is None


def test_the_local_month_decides_and_other_dealers_are_apart(app_ctx: Any) -> None:
    d, other = make_dealer(), make_dealer()
    m = make_member(dealer_id=d.id)
    stranger = make_member(dealer_id=other.id)
    earn(m, 7, datetime(2026, 10, 31, 15, 59, tzinfo=UTC))   # 23:59 on 31 Oct in Shanghai
    earn(m, 11, datetime(2026, 10, 31, 16, 1, tzinfo=UTC))   # 00:01 on 1 Nov
    earn(m, 13, datetime(2026, 11, 30, 15, 59, tzinfo=UTC))  # 23:59 on 30 Nov
    earn(m, 17, datetime(2026, 11, 30, 16, 1, tzinfo=UTC))   # December
    earn(stranger, 500, MID)
    nov = leaderboard.board(d.account_id, d.id, NOV)
    assert [(p.member_id, p.points) for p in nov.places] == [(m.id, 24)]
    assert [p.points for p in leaderboard.board(d.account_id, d.id, date(2026, 10, 1)).places] == [7]
    assert [p.points for p in leaderboard.board(d.account_id, d.id, date(2026, 12, 1)).places] == [17]
    assert leaderboard.board(d.account_id + 1000, d.id, NOV).places == []  # another account sees nothing


def test_the_members_own_rank_outside_the_top_20(app_ctx: Any) -> None:
    d = make_dealer()
    members = [make_member(dealer_id=d.id) for _ in range(22)]
    for i, m in enumerate(members):
        earn(m, 100 - i, MID)
    last = members[-1]
    board = leaderboard.board(d.account_id, d.id, NOV, member_id=last.id)
    assert len(board.places) == 20 and board.places[-1].rank == 20
    assert board.me is not None and (board.me.rank, board.me.points) == (22, 79)
    assert last.id not in {p.member_id for p in board.places}
    top = leaderboard.board(d.account_id, d.id, NOV, member_id=members[0].id)
    assert top.me is not None and top.me.rank == 1 and len(top.places) == 20


def test_month_parsing(app_ctx: Any) -> None:
    today = date(2026, 11, 23)
    assert leaderboard.parse_month("2026-02", today) == date(2026, 2, 1)
    assert leaderboard.parse_month("", today) == NOV
    for bad in ("2026-13", "26-01", "2026/01", "abc"):
        with pytest.raises(Invalid):
            leaderboard.parse_month(bad, today)


def test_h5_board_shows_the_top_and_my_rank(live_server: Any, app_ctx: Any) -> None:
    d = make_dealer(name="上海浦东4S店")
    me = make_member(openid=OPENID, dealer_id=d.id)
    now = datetime.now(UTC)
    for i in range(21):
        earn(make_member(dealer_id=d.id, remark=f"车友{i:02d}"), 100 + i, now)
    earn(me, 5, now)
    s = _phone()
    page = s.get(live_server.url + "/h5/demo/leaderboard", timeout=10)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "积分排行榜" in page.text and "上海浦东4S店" in page.text
    assert "第 22 名" in page.text and "本月获得 5 积分" in page.text
    assert page.text.count('class="lb-row') == 20 and "车**" in page.text and "车友20" not in page.text
    assert OPENID not in page.text


def test_h5_board_without_a_dealer(live_server: Any, app_ctx: Any) -> None:
    make_follower(openid=OPENID)
    page = _phone().get(live_server.url + "/h5/demo/leaderboard", timeout=10)
    assert page.status_code == 200 and "你还没有绑定门店" in page.text
