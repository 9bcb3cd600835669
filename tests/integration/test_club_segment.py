"""Club events for a segment: only followers in the segment may register or see the event, the admin form
takes a segment of the event's dealer (or an account-wide one), and the push goes to the segment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Audience, ClubEvent, RegistrationStatus, Role
from scrm.services import club, segments
from scrm.services.errors import Invalid
from scrm.services.scope import Scope
from tests.factories import make_dealer, make_follower, make_staff
from tests.integration.admin_support import post, signed_in, text
from tests.integration.customer_support import bind, make_customer
from tests.integration.test_club_service import NOW, deliveries, make_event

pytestmark = pytest.mark.integration
VIP = {"match": "all", "rules": [{"field": "tags", "op": "has_any", "value": ["VIP"]}]}


def _world() -> dict[str, Any]:
    a, b = make_dealer(), make_dealer()
    inside, outside, unbound = (make_follower(dealer_id=a.id) for _ in range(3))
    bind(make_customer(a, tags=["VIP"]), inside)
    bind(make_customer(a, tags=["普通"]), outside)
    seg = segments.create(Scope.of(make_staff(Role.DEALER_MANAGER, dealer=a)), name="VIP 车主", description="",
                          dealer_id=None, definition=VIP)
    other = segments.create(Scope.of(make_staff(Role.DEALER_MANAGER, dealer=b)), name="别家的", description="",
                            dealer_id=None, definition=VIP)
    return dict(a=a, b=b, inside=inside, outside=outside, unbound=unbound, seg=seg, other=other)


def test_only_followers_in_the_segment_may_register(app_ctx: Any) -> None:
    w = _world()
    ev = make_event(audience=Audience.SEGMENT, segment_id=w["seg"].id, dealer_id=w["a"].id)
    with pytest.raises(Invalid) as refused:
        club.register(w["outside"].id, ev.id, 0, now=NOW)
    assert refused.value.message == "This event is not open to you."
    with pytest.raises(Invalid):
        club.register(w["unbound"].id, ev.id, 0, now=NOW)
    done = club.register(w["inside"].id, ev.id, 1, now=NOW)
    assert done.status == RegistrationStatus.REGISTERED
    assert [e.id for e in club.upcoming(w["inside"].id, now=NOW)] == [ev.id]
    assert club.upcoming(w["outside"].id, now=NOW) == []
    assert club.open_for(w["inside"].id, ev, now=NOW) and not club.open_for(w["outside"].id, ev, now=NOW)
    segments.archive(Scope.of(make_staff(Role.BRAND_ADMIN)), w["seg"].id)     # an archived segment holds nobody
    assert not club.open_for(w["inside"].id, ev, now=NOW)


def _form(**kw: str) -> dict[str, str]:
    day = (datetime.now(UTC) + timedelta(days=10)).strftime("%Y-%m-%d")
    values = {"title": "VIP 品鉴会", "description": "", "place": "展厅", "starts_at": f"{day}T14:00",
              "ends_at": f"{day}T16:00", "registration_deadline": f"{day}T10:00", "capacity": "30",
              "max_companions": "1", "points": "0", "audience": "segment", "dealer_id": "", "min_tier_id": "",
              "segment_id": ""}
    values.update(kw)
    return values


def test_admin_form_takes_a_segment_and_pushes_to_it(client: Any) -> None:
    w = _world()
    signed_in(client, Role.DEALER_MANAGER, dealer=w["a"])
    form = text(client.get("/admin/club/new"))
    assert "VIP 车主" in form and "别家的" not in form and "客户分群内的会员" in form
    missing = post(client, "/admin/club/new", _form())
    assert missing.status_code == 422 and "请选择活动所属经销商的分群或全账号分群" in text(missing)
    theirs = post(client, "/admin/club/new", _form(segment_id=str(w["other"].id)))
    assert theirs.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ClubEvent)) == 0
    resp = post(client, "/admin/club/new", _form(segment_id=str(w["seg"].id)))
    assert resp.status_code == 303
    event_id = int(resp.headers["Location"].rstrip("/").split("/")[-1])
    with db.transaction() as s:
        ev = s.get(ClubEvent, event_id)
        assert ev is not None and ev.audience == Audience.SEGMENT and ev.segment_id == w["seg"].id
    edit = text(client.get(f"/admin/club/{event_id}/edit"))
    assert f'<option value="{w["seg"].id}" selected>' in edit
    assert post(client, f"/admin/club/{event_id}/publish", {"push": "y"}).status_code == 303
    assert [d.follower_id for d in deliveries(f"club:{event_id}:push:")] == [w["inside"].id]
    assert "客户分群内的会员" in text(client.get("/admin/club/"))
