"""The H5 club pages: the list, an event with register (companions) / cancel, waitlist place, my events."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from scrm import db
from scrm.models import EventStatus, RegistrationStatus
from scrm.services import club
from tests.factories import make_follower
from tests.integration.admin_support import csrf_from
from tests.integration.test_club_service import make_event, registrations

pytestmark = pytest.mark.integration


def _signed_in(client: Any, openid: str, slug: str = "demo") -> None:
    """What the WeChat web authorization leaves in the session (the OAuth round trip has its own tests)."""
    with client.session_transaction() as sess:
        sess["h5"] = {slug: {"openid": openid, "at": time.time()}}


def _soon(**kw: Any) -> Any:
    now = db.utcnow()
    values: dict[str, Any] = dict(starts_at=now + timedelta(days=3), ends_at=now + timedelta(days=3, hours=2),
                                  registration_deadline=now + timedelta(days=2))
    values.update(kw)
    return make_event(**values)


def test_signed_out_visitors_are_sent_to_wechat_sign_in(client: Any) -> None:
    resp = client.get("/h5/demo/events")
    assert resp.status_code in (302, 303)


def test_list_register_with_companions_then_cancel(client: Any) -> None:
    f = make_follower()
    _signed_in(client, f.openid)
    ev = _soon(title="城市夜骑", place="外滩")
    _soon(title="草稿活动", status=EventStatus.DRAFT)
    page = client.get("/h5/demo/events").data.decode()
    assert "车主活动" in page and "城市夜骑" in page and "剩余 10 个名额" in page and "草稿活动" not in page
    detail = client.get(f"/h5/demo/events/{ev.id}").data.decode()
    assert 'id="register-form"' in detail and "2 位同伴" in detail and "参加可得 50 积分" in detail
    token = csrf_from(detail)
    bad = client.post(f"/h5/demo/events/{ev.id}/register", data={"csrf_token": token, "companions": "5"})
    assert bad.status_code == 409 and "最多可以带 2 位同伴" in bad.data.decode()
    assert registrations(ev.id) == []
    done = client.post(f"/h5/demo/events/{ev.id}/register", data={"csrf_token": token, "companions": "2"},
                       follow_redirects=True).data.decode()
    assert "报名成功" in done and "已占 3 / 10" in done and "同伴：2 位" in done and 'id="cancel-form"' in done
    mine = client.get("/h5/demo/events").data.decode()
    assert "我的活动" in mine and f'data-mine="{ev.id}"' in mine
    gone = client.post(f"/h5/demo/events/{ev.id}/cancel", data={"csrf_token": csrf_from(done)},
                       follow_redirects=True).data.decode()
    assert "已为您取消报名" in gone and "已占 0 / 10" in gone
    assert registrations(ev.id)[0].status == RegistrationStatus.CANCELLED


def test_full_event_shows_the_waitlist_position(client: Any) -> None:
    ev = _soon(capacity=1, max_companions=0)
    first, me = make_follower(), make_follower()

    club.register(first.id, ev.id, 0)
    _signed_in(client, me.openid)
    detail = client.get(f"/h5/demo/events/{ev.id}").data.decode()
    assert "报名后将进入候补" in detail
    done = client.post(f"/h5/demo/events/{ev.id}/register", data={"csrf_token": csrf_from(detail)},
                       follow_redirects=True).data.decode()
    assert "您已进入候补，排第 1 位" in done and "第 1 位" in done


def test_other_accounts_and_drafts_are_not_found(client: Any) -> None:
    f = make_follower()
    _signed_in(client, f.openid)
    draft = _soon(status=EventStatus.DRAFT)
    assert client.get(f"/h5/demo/events/{draft.id}").status_code == 404
    assert client.get("/h5/demo/events/999999").status_code == 404
