"""Club events in the admin: create in local time, publish with a push, the event page with its check-in QR,
no-show, cancel (registrants told), CSV export (audited), and a dealer manager's scope."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, ClubEvent, EventRegistration, EventStatus, Member, RegistrationStatus, Role
from scrm.sandbox.api_qrcode import find_ticket
from scrm.services import club, ledger
from tests.factories import make_dealer, make_follower
from tests.integration.admin_support import post, signed_in, text
from tests.integration.test_club_service import deliveries, make_event, registrations

pytestmark = pytest.mark.integration


def _event(event_id: int) -> ClubEvent:
    with db.transaction() as s:
        ev = s.get(ClubEvent, event_id, populate_existing=True)
        assert ev is not None
        return ev


def _form(**kw: str) -> dict[str, str]:
    day = (datetime.now(UTC) + timedelta(days=10)).strftime("%Y-%m-%d")
    values = {"title": "新车品鉴会", "description": "新款车型静态品鉴", "place": "上海市徐汇区漕溪北路1号",
              "starts_at": f"{day}T14:00", "ends_at": f"{day}T16:00", "registration_deadline": f"{day}T10:00",
              "capacity": "30", "max_companions": "1", "points": "100", "audience": "all", "dealer_id": "",
              "min_tier_id": ""}
    values.update(kw)
    return values


def test_brand_admin_creates_publishes_with_push_and_sees_the_qr(client: Any, live_server: Any) -> None:
    signed_in(client)
    fans = [make_follower(), make_follower(), make_follower(opt_out_marketing=True)]
    make_follower(subscribed=False)
    bad = post(client, "/admin/club/new", _form(title="", ends_at="2020-01-01T00:00"))
    assert bad.status_code == 422 and "请输入标题" in text(bad)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ClubEvent)) == 0
    resp = post(client, "/admin/club/new", _form())
    assert resp.status_code == 303
    event_id = int(resp.headers["Location"].rstrip("/").split("/")[-1])
    ev = _event(event_id)
    assert ev.status == EventStatus.DRAFT and ev.dealer_id is None
    assert ev.starts_at.astimezone(UTC).hour == 6                      # 14:00 in Shanghai
    assert post(client, f"/admin/club/{event_id}/publish", {"push": "y"}).status_code == 303
    ev = _event(event_id)
    assert ev.status == EventStatus.PUBLISHED and ev.pushed_at is not None
    pushes = deliveries(f"club:{event_id}:push:")
    assert sorted(d.follower_id or 0 for d in pushes) == sorted(f.id for f in fans)   # opt-outs are the sender's job
    assert {d.purpose for d in pushes} == {"marketing"}
    post(client, f"/admin/club/{event_id}/publish", {"push": "y"})      # a second push writes nothing new
    assert len(deliveries(f"club:{event_id}:push:")) == 3
    page = text(client.get(f"/admin/club/{event_id}"))
    assert "新车品鉴会" in page and "签到二维码" in page and "已占 0 / 30" in page
    src = re.search(r'id="checkin-qr"', page) and re.search(r'<img src="([^"]+)" alt="签到二维码"', page)
    assert src is not None
    ticket = parse_qs(urlsplit(src.group(1).replace("&amp;", "&")).query)["ticket"][0]
    found = find_ticket(ticket)
    assert found is not None and found[1].scene == f"event:{ev.checkin_token}"
    again = text(client.get(f"/admin/club/{event_id}"))                 # cached: the same ticket
    assert src.group(1) in again


def test_event_page_no_show_cancel_and_export(client: Any) -> None:
    signed_in(client)
    now = db.utcnow()
    ev = make_event(capacity=2, max_companions=0, starts_at=now - timedelta(minutes=30),
                    ends_at=now + timedelta(hours=2), registration_deadline=now - timedelta(hours=1))
    later = make_event(capacity=1, max_companions=0, starts_at=now + timedelta(days=2),
                       ends_at=now + timedelta(days=2, hours=2), registration_deadline=now + timedelta(days=1))
    a, b = make_follower(remark="=SUM(A1)"), make_follower()
    for f in (a, b):
        with db.transaction() as s:
            ledger.member_in(s, f.id)
    with db.transaction() as s:   # registered before the deadline (written directly: the deadline has passed)
        for f in (a, b):
            mid = s.scalar(sa.select(Member.id).where(Member.follower_id == f.id))
            s.add(EventRegistration(event_id=ev.id, member_id=mid, companions=0,
                                    status=RegistrationStatus.REGISTERED, registered_at=now - timedelta(days=1)))
        s.execute(sa.update(ClubEvent).where(ClubEvent.id == ev.id).values(seats_taken=2))
    regs = registrations(ev.id)
    assert post(client, f"/admin/club/{ev.id}/registrations/{regs[0].id}/no-show").status_code == 303
    assert registrations(ev.id)[0].status == RegistrationStatus.NO_SHOW
    csv_resp = client.get(f"/admin/club/{ev.id}/attendees.csv")
    body = csv_resp.data.decode("utf-8-sig")
    assert csv_resp.status_code == 200 and body.splitlines()[0] == "名称,手机号,同伴,状态,报名时间,签到时间"
    assert "'=SUM(A1)" in body and "爽约" in body and "已报名" in body
    with db.transaction() as s:
        assert s.scalar(sa.select(AuditLog.action).where(AuditLog.action == "club.export")) == "club.export"
    c, d = make_follower(), make_follower()
    club.register(c.id, later.id, 0)
    club.register(d.id, later.id, 0)             # waitlisted
    assert post(client, f"/admin/club/{later.id}/cancel").status_code == 303
    assert _event(later.id).status == EventStatus.CANCELLED and _event(later.id).seats_taken == 0
    told = deliveries(f"club:{later.id}:cancelled:")
    assert sorted(x.follower_id or 0 for x in told) == sorted([c.id, d.id])
    assert {r.status for r in registrations(later.id)} == {RegistrationStatus.CANCELLED}


def test_dealer_manager_sees_and_changes_only_their_dealer(client: Any) -> None:
    mine, other = make_dealer(), make_dealer()
    signed_in(client, Role.DEALER_MANAGER, dealer=mine)
    theirs = make_event(dealer_id=other.id, title="别家的活动")
    shared = make_event(dealer_id=None, title="品牌活动")
    own = make_event(dealer_id=mine.id, title="本店活动")
    listing = text(client.get("/admin/club/"))
    assert "本店活动" in listing and "别家的活动" not in listing and "品牌活动" not in listing
    for ev in (theirs, shared):
        assert client.get(f"/admin/club/{ev.id}").status_code == 404
        assert client.get(f"/admin/club/{ev.id}/edit").status_code == 404
        assert client.get(f"/admin/club/{ev.id}/attendees.csv").status_code == 404
        assert post(client, f"/admin/club/{ev.id}/cancel").status_code == 404
        assert post(client, f"/admin/club/{ev.id}/publish").status_code == 404
    assert _event(theirs.id).status == EventStatus.PUBLISHED
    assert client.get(f"/admin/club/{own.id}").status_code == 200
    resp = post(client, "/admin/club/new", _form(dealer_id=str(other.id), title="越权活动"))
    assert resp.status_code == 303
    made = db.session.scalar(sa.select(ClubEvent).where(ClubEvent.title == "越权活动"))
    assert made is not None and made.dealer_id == mine.id           # always their own dealer
    staff_client = client.application.test_client()
    signed_in(staff_client, Role.DEALER_STAFF, dealer=mine)
    assert staff_client.get("/admin/club/").status_code == 403


def test_raising_the_capacity_seats_the_waitlist(client: Any) -> None:
    signed_in(client)
    day = (datetime.now(UTC) + timedelta(days=10))
    ev = make_event(capacity=1, max_companions=0, starts_at=day, ends_at=day + timedelta(hours=2),
                    registration_deadline=day - timedelta(hours=2))
    first, second = make_follower(), make_follower()
    club.register(first.id, ev.id, 0)
    assert club.register(second.id, ev.id, 0).status == RegistrationStatus.WAITLISTED
    local = day.astimezone(ZoneInfo("Asia/Shanghai"))
    form = _form(capacity="5", max_companions="0", starts_at=local.strftime("%Y-%m-%dT%H:%M"),
                 ends_at=(local + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
                 registration_deadline=(local - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    assert post(client, f"/admin/club/{ev.id}/edit", form).status_code == 303
    assert {r.status for r in registrations(ev.id)} == {RegistrationStatus.REGISTERED}
    assert _event(ev.id).seats_taken == 2 and _event(ev.id).capacity == 5
    assert len(deliveries(f"club:{ev.id}:promoted:")) == 1
