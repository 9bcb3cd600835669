"""Campaign pages through the Flask client: the form (errors keep what was typed), drafts, the dry run, launch,
live progress JSON, pause/resume/cancel, duplicate, scoping, permissions and CSRF."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Role, Segment
from scrm.outbox.worker import drain
from scrm.sandbox import state as sandbox
from scrm.services.accounts import account_id
from tests.factories import make_dealer, make_follower, make_staff
from tests.integration.admin_support import login, post, signed_in, text
from tests.integration.customer_support import bind, make_customer

pytestmark = pytest.mark.integration
TEXT = "{{ customer.salutation }}，春季保养季到了，欢迎回店 https://dealer.example.com/spring"


@pytest.fixture
def app_id(live_server: Any, settings: Any) -> str:
    return str(settings.accounts["demo"].app_id)


def _world(app_id: str, n: int = 3) -> tuple[Any, int]:
    """A dealer with `n` bound, subscribed followers in Shanghai and a segment of them."""
    d = make_dealer()
    for i in range(n):
        f = make_follower(dealer_id=d.id, interaction_kind="message")
        sandbox.add_follower(app_id, f.openid, subscribed=True, interaction="message")
        c = make_customer(d, name=f"李{i}", gender="male", city="上海")
        bind(c, f)
    with db.transaction() as s:
        seg = Segment(account_id=account_id("demo"), dealer_id=d.id, name="上海车主", last_count=n,
                      definition={"match": "all", "rules": [{"field": "city", "op": "eq", "value": "上海"}]})
        s.add(seg)
        s.flush()
        return d, seg.id


def _form(segment_id: int, **kw: str) -> dict[str, str]:
    values = {"name": "春季保养", "segment_id": str(segment_id), "channel": "custom", "variant_count": "1",
              "v0_weight": "100", "v0_kind": "text", "v0_text": TEXT, "holdout_pct": "0", "schedule": "now",
              "quiet_hours": "", "conversion_days": "14"}
    values.update(kw)
    return values


def _english(client: Any) -> None:
    assert post(client, "/admin/language", {"lang": "en", "next": "/admin/"}).status_code == 303


def _campaign(cid: int) -> Campaign:
    with db.transaction() as s:
        c = s.get(Campaign, cid, populate_existing=True)
        assert c is not None
        return c


def _count() -> int:
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)) or 0)


def _create(client: Any, segment_id: int, **kw: str) -> int:
    resp = post(client, "/admin/campaigns/new", _form(segment_id, **kw))
    assert resp.status_code == 303, text(resp)[:2000]
    return int(resp.headers["Location"].rstrip("/").split("/")[-1])


def test_bad_fields_show_their_message_keep_the_input_and_save_nothing(client: Any, app_id: str) -> None:
    d, seg = _world(app_id, 1)
    signed_in(client, Role.DEALER_MANAGER, dealer=d)
    _english(client)
    resp = post(client, "/admin/campaigns/new", _form(seg, name="", v0_text="留着我写的字"))
    body = text(resp)
    assert resp.status_code == 422 and "Enter a name." in body
    assert "留着我写的字" in body                                       # nothing typed is lost
    resp = post(client, "/admin/campaigns/new", _form(seg, v0_text=""))
    body = text(resp)
    assert resp.status_code == 422
    # the message problem is shown inside variant A's editor, on its text field
    editor = body[body.index('data-compose-prefix="v0_"'):body.index('data-compose-prefix="v1_"')]
    shown = re.search(r'compose-error" role="alert">([^<]+)<', editor)
    assert shown and shown.group(1).strip() and "compose-text has-error" in editor
    assert "compose-text has-error" not in body[body.index('data-compose-prefix="v1_"'):]
    resp = post(client, "/admin/campaigns/new", _form(seg, holdout_pct="lots"))
    assert resp.status_code == 422 and "Enter a whole number." in text(resp)
    resp = post(client, "/admin/campaigns/new", _form(seg, variant_count="2", v0_weight="50", v1_weight="40",
                                                        v1_kind="text", v1_text="B 版本"))
    assert resp.status_code == 422 and "add up to 100" in text(resp) and "B 版本" in text(resp)
    assert _count() == 0


def test_create_edit_then_the_dry_run_shows_the_audience(client: Any, app_id: str) -> None:
    d, seg = _world(app_id, 3)
    signed_in(client, Role.DEALER_MANAGER, dealer=d)
    _english(client)
    form = client.get("/admin/campaigns/new")
    assert form.status_code == 200 and "上海车主" in text(form) and 'name="v0_text"' in text(form)
    cid = _create(client, seg)
    c = _campaign(cid)
    assert c.status == CampaignStatus.DRAFT and c.dealer_id == d.id and c.variants[0]["message"]["text"] == TEXT
    edit = client.get(f"/admin/campaigns/{cid}/edit")
    assert edit.status_code == 200 and "春季保养" in text(edit)
    resp = post(client, f"/admin/campaigns/{cid}/edit",
                _form(seg, name="春季保养 A/B", variant_count="2", v0_weight="60", v1_weight="40", v1_kind="text",
                      v1_text="B：{{ customer.salutation }}，保养特惠", holdout_pct="10"))
    assert resp.status_code == 303
    c = _campaign(cid)
    assert c.name == "春季保养 A/B" and [v["weight"] for v in c.variants] == [60, 40] and c.holdout_pct == 10
    page = client.get(f"/admin/campaigns/{cid}")
    body = text(page)
    assert page.status_code == 200 and 'id="dry-run"' in body
    assert re.search(r'id="dry-audience">3<', body)
    assert 'id="launch-form"' in body and "Launch this campaign to 3 followers?" in body
    listing = client.get("/admin/campaigns/?status=draft")
    assert f'data-campaign="{cid}"' in text(listing)
    assert f'data-campaign="{cid}"' not in text(client.get("/admin/campaigns/?status=running"))


def test_launch_progress_pause_resume_cancel(client: Any, app_id: str) -> None:
    d, seg = _world(app_id, 3)
    signed_in(client, Role.DEALER_MANAGER, dealer=d)
    cid = _create(client, seg)
    assert post(client, f"/admin/campaigns/{cid}/launch").status_code == 303
    assert _campaign(cid).status == CampaignStatus.RUNNING
    p = client.get(f"/admin/campaigns/{cid}/progress.json").get_json()
    assert p["total"] == 3 and p["by_status"]["pending"] == 3 and p["percent"] == 0 and p["status"] == "running"
    assert post(client, f"/admin/campaigns/{cid}/pause").status_code == 303
    assert _campaign(cid).status == CampaignStatus.PAUSED
    p = client.get(f"/admin/campaigns/{cid}/progress.json").get_json()
    assert p["by_status"]["held"] == 3 and p["status"] == "paused"
    assert 'id="resume-form"' in text(client.get(f"/admin/campaigns/{cid}"))
    assert post(client, f"/admin/campaigns/{cid}/resume").status_code == 303
    drain()
    p = client.get(f"/admin/campaigns/{cid}/progress.json").get_json()
    assert p["by_status"]["sent"] == 3 and p["percent"] == 100 and p["done"] == 3
    page = text(client.get(f"/admin/campaigns/{cid}"))
    assert re.search(r'<tr data-arm="A">\s*<td>[^<]+</td>\s*<td class="num">3</td>\s*<td class="num">3</td>', page)
    assert post(client, f"/admin/campaigns/{cid}/launch", follow=True).status_code == 200   # twice: refused
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Delivery).where(Delivery.campaign_id == cid)) == 3
    copy = post(client, f"/admin/campaigns/{cid}/duplicate")
    assert copy.status_code == 303 and copy.headers["Location"].endswith("/edit")
    assert _count() == 2


def test_cancel_stops_what_is_not_sent(client: Any, app_id: str) -> None:
    d, seg = _world(app_id, 2)
    signed_in(client, Role.DEALER_MANAGER, dealer=d)
    cid = _create(client, seg)
    post(client, f"/admin/campaigns/{cid}/launch")
    page = text(client.get(f"/admin/campaigns/{cid}"))
    assert 'id="cancel-form"' in page and "data-confirm" in page[page.index('id="cancel-form"') - 300:]
    assert post(client, f"/admin/campaigns/{cid}/cancel").status_code == 303
    assert _campaign(cid).status == CampaignStatus.CANCELLED
    drain()
    with db.transaction() as s:
        statuses = set(s.scalars(sa.select(Delivery.status).where(Delivery.campaign_id == cid)))
    assert statuses == {DeliveryStatus.CANCELLED}
    assert client.get(f"/admin/campaigns/{cid}/progress.json").get_json()["status"] == "cancelled"


def test_another_dealers_campaign_is_not_found(client: Any, app_id: str) -> None:
    d, seg = _world(app_id, 1)
    signed_in(client, Role.DEALER_MANAGER, dealer=d)
    cid = _create(client, seg)
    client.post("/admin/logout", data={})
    other = make_staff(Role.DEALER_MANAGER, dealer=make_dealer())
    client2 = client.application.test_client()
    assert login(client2, other.username).status_code == 303
    for path in (f"/admin/campaigns/{cid}", f"/admin/campaigns/{cid}/edit", f"/admin/campaigns/{cid}/progress.json"):
        assert client2.get(path).status_code == 404
    assert post(client2, f"/admin/campaigns/{cid}/launch").status_code == 404
    assert f'data-campaign="{cid}"' not in text(client2.get("/admin/campaigns/"))
    assert _campaign(cid).status == CampaignStatus.DRAFT


def test_staff_without_the_permission_cannot_launch(client: Any, app_id: str) -> None:
    d, seg = _world(app_id, 1)
    manager = client.application.test_client()
    signed_in(manager, Role.DEALER_MANAGER, dealer=d)
    cid = _create(manager, seg)
    signed_in(client, Role.DEALER_STAFF, dealer=d)
    assert client.get("/admin/campaigns/").status_code == 403
    assert 'href="/admin/campaigns/"' not in text(client.get("/admin/"))            # no menu entry
    assert post(client, f"/admin/campaigns/{cid}/launch").status_code == 403
    assert post(client, "/admin/campaigns/new", _form(seg)).status_code == 403
    assert _campaign(cid).status == CampaignStatus.DRAFT and _count() == 1


def test_posts_without_the_csrf_token_are_refused(client: Any, app_id: str) -> None:
    d, seg = _world(app_id, 1)
    signed_in(client, Role.DEALER_MANAGER, dealer=d)
    cid = _create(client, seg)
    assert client.post("/admin/campaigns/new", data=_form(seg)).status_code == 400
    assert client.post(f"/admin/campaigns/{cid}/launch", data={}).status_code == 400
    assert _count() == 1 and _campaign(cid).status == CampaignStatus.DRAFT


def test_empty_list_and_chinese_labels(client: Any, app_id: str) -> None:
    d, _seg = _world(app_id, 1)
    signed_in(client, Role.DEALER_MANAGER, dealer=d)
    body = text(client.get("/admin/campaigns/"))
    assert 'class="empty"' in body and "营销活动" in body and 'href="/admin/campaigns/new"' in body


def test_brand_admin_schedules_at_a_local_time_and_on_a_weekly_recurrence(client: Any, app_id: str) -> None:
    from datetime import UTC, datetime, timedelta

    d, seg = _world(app_id, 1)
    signed_in(client)
    _english(client)
    form = text(client.get("/admin/campaigns/new"))
    assert 'name="dealer_id"' in form and d.name in form                    # a brand admin picks the dealer
    day = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%d")
    cid = _create(client, seg, dealer_id=str(d.id), schedule="at", send_at=f"{day}T10:00")
    c = _campaign(cid)
    assert c.dealer_id == d.id and c.send_at is not None
    assert c.send_at.astimezone(UTC).hour == 2                              # 10:00 in Shanghai
    assert f'value="{day}T10:00"' in text(client.get(f"/admin/campaigns/{cid}/edit"))
    resp = post(client, f"/admin/campaigns/{cid}/edit",
                _form(seg, schedule="recurring", every="week", weekday="9", at="09:30"))
    assert resp.status_code == 422 and "weekday" in text(resp)
    assert f'value="{day}T10:00"' not in text(resp) and 'value="09:30"' in text(resp)   # what was typed stays
    resp = post(client, f"/admin/campaigns/{cid}/edit",
                _form(seg, schedule="recurring", every="week", weekday="2", at="09:30", until=""))
    assert resp.status_code == 303
    c = _campaign(cid)
    assert c.schedule.value == "recurring" and c.recurrence["weekday"] == 2 and c.recurrence["at"] == "09:30"
    assert post(client, f"/admin/campaigns/{cid}/launch").status_code == 303
    c = _campaign(cid)
    assert c.status == CampaignStatus.SCHEDULED and c.next_run_at is not None
    assert c.next_run_at.astimezone(UTC).weekday() == 2 and c.next_run_at.astimezone(UTC).hour == 1
    row = text(client.get("/admin/campaigns/?status=scheduled"))
    assert f'data-campaign="{cid}"' in row and "Next run" in row
    page = text(client.get(f"/admin/campaigns/{cid}"))
    assert "Every week at 09:30" in page and "Wednesday" in page and 'id="pause-form"' in page
