"""The message editor's server side: template choices from WeChat, preview JSON in scope, test sends to the
staff member's own WeChat (through the outbox to the sandbox phone), the hourly limit."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, Delivery, Gender, Role, StaffUser
from scrm.outbox.worker import drain
from scrm.sandbox import state as sandbox
from scrm.services import compose_admin
from tests.factories import make_dealer, make_follower
from tests.integration.admin_support import csrf, signed_in, text
from tests.integration.customer_support import bind, make_customer, make_vehicle

pytestmark = pytest.mark.integration
TEXT = ("{{ customer.salutation }}，您的{{ vehicle.model }}（{{ vehicle.plate|masked }}）该保养了，"
        "积分{{ member.balance }}")


@pytest.fixture(autouse=True)
def _unlink_staff_at_end(app: Any) -> Iterator[None]:
    """staff_users.follower_id and followers.staff_id point at each other: SQLite's table-by-table cleanup
    between tests (tests/conftest.py) can only delete the followers once the links are gone."""
    yield
    with db.transaction() as s:
        s.execute(sa.update(StaffUser).values(follower_id=None))


@pytest.fixture
def app_id(live_server: Any, settings: Any) -> str:
    return str(settings.accounts["demo"].app_id)


def _form(channel: str = "custom", prefix: str = "m_", customer: Any = None, **fields: str) -> dict[str, str]:
    data = {"compose_prefix": prefix, "compose_channel": channel, "compose_customer": str(customer or ""),
            f"{prefix}kind": "text", f"{prefix}text": TEXT}
    data.update({prefix + k: v for k, v in fields.items()})
    return data


def _post(client: Any, path: str, data: dict[str, str]) -> Any:
    return client.post(path, data=data, headers={"X-CSRFToken": csrf(client, "/admin/")})


def _link(staff: StaffUser, app_id: str) -> Any:
    f = make_follower()
    sandbox.add_follower(app_id, f.openid, interaction="message")
    with db.transaction() as s:
        s.execute(sa.update(StaffUser).where(StaffUser.id == staff.id).values(follower_id=f.id))
    return f


def test_template_choices_come_from_wechat_parsed_and_cached(app_id: str) -> None:
    tid = sandbox.add_template(app_id, "保养提醒", "车辆：{{thing1.DATA}}\n到期：{{time2.DATA}}\n{{thing1.DATA}}")
    found = compose_admin.templates_for("demo")
    assert (tid, "保养提醒", ["thing1", "time2"]) in found
    sandbox.add_template(app_id, "新模板", "{{thing9.DATA}}")
    assert compose_admin.templates_for("demo") == found                 # cached for 10 minutes
    compose_admin.forget_templates("demo")
    assert len(compose_admin.templates_for("demo")) == len(found) + 1


def test_template_choices_are_empty_when_wechat_refuses(app_id: str) -> None:
    sandbox.set_quota(app_id, "template_list", 0)                     # 45009 from the fake WeChat
    assert compose_admin.templates_for("demo") == []
    assert compose_admin.templates_for("nosuchaccount") == []


def test_preview_renders_for_a_customer_in_scope_and_404_outside(client: Any, app_id: str) -> None:
    mine, other = make_dealer(name="浦东店", phone="021-1111"), make_dealer()
    signed_in(client, Role.DEALER_MANAGER, dealer=mine)
    c = make_customer(mine, name="李娜", gender=Gender.FEMALE, mobile="13800001111")
    make_vehicle(c, plate="沪A12345", model="凯美瑞")
    stranger = make_customer(other, name="王五")
    resp = _post(client, "/admin/compose/preview", _form(customer=c.id, **{"text": TEXT + " {{ dealer.phone }}"}))
    body = resp.get_json()
    assert resp.status_code == 200 and body["ok"] and body["customer"] == "李娜"
    [part] = body["parts"]
    assert part["kind"] == "text"
    assert part["content"] == "李女士，您的凯美瑞（沪A***45）该保养了，积分0 021-1111"
    assert body["problems"] == []
    assert _post(client, "/admin/compose/preview", _form(customer=stranger.id)).status_code == 404
    found = client.get("/admin/compose/customers?q=13800001111").get_json()["customers"]
    assert [x["id"] for x in found] == [c.id] and "沪A12345" in found[0]["label"]
    assert client.get("/admin/compose/customers?q=王五").get_json()["customers"] == []


def test_preview_without_customer_uses_the_sample_and_shows_both_parts(client: Any, app_id: str) -> None:
    signed_in(client)
    value = "{{ customer.salutation }}的{{ vehicle.model }}保养即将到期"
    data = _form("auto", **{"template_id": "TPL_1", "template_url": "https://dealer.example.com/a",
                            "tf_key": "thing1", "tf_value": value})
    body = _post(client, "/admin/compose/preview", data).get_json()
    assert body["ok"] and body["customer"] == "示例车主（张伟）"
    custom, template = body["parts"]
    assert custom["content"].startswith("张先生，您的Model Y 长续航版（沪A***45）")
    assert template["kind"] == "template" and template["fields"] == [
        {"key": "thing1", "value": "张先生的Model Y 长续航版保养即将到期"}]
    assert "thing1" in body["problems"][0] and "20" in body["problems"][0]     # 21 characters: too long for thing


def test_preview_names_the_field_a_bad_text_is_in(client: Any, app_id: str) -> None:
    signed_in(client)
    resp = _post(client, "/admin/compose/preview", _form(text="{% for x in customer %}{{ x }}{% endfor %}"))
    body = resp.get_json()
    assert resp.status_code == 422 and not body["ok"] and body["field"] == "m_text" and "For" in body["error"]
    resp = _post(client, "/admin/compose/preview", _form(text="{{ customer.password }}"))
    assert resp.status_code == 422 and "password" in resp.get_json()["error"]
    long = _post(client, "/admin/compose/preview", _form(text="字" * 700)).get_json()
    assert long["ok"] and "2100" in long["problems"][0]                     # 700 × 3 bytes > 2048


def test_test_send_reaches_the_staff_members_phone(client: Any, app_id: str) -> None:
    dealer = make_dealer(name="浦东店")
    staff = signed_in(client, Role.DEALER_MANAGER, dealer=dealer)
    me = _link(staff, app_id)
    c = make_customer(dealer, name="李娜", gender=Gender.FEMALE)
    make_vehicle(c, plate="沪B54321", model="雅阁")
    bind(c, make_follower())
    resp = _post(client, "/admin/compose/test-send", _form(customer=c.id))
    assert resp.status_code == 200 and resp.get_json()["ok"], resp.data
    drain()
    [got] = sandbox.messages_for(app_id, me.openid)
    assert got["body"]["content"].startswith("李女士，您的雅阁（沪B***21）")
    row = db.session.scalar(sa.select(Delivery))
    assert row is not None and row.purpose == "test" and row.dedupe_key.startswith(f"test:{staff.id}:")
    log = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "compose.test_send"))
    assert log is not None and log.staff_id == staff.id and log.detail["customer_id"] == c.id


def test_test_send_of_a_template_message(client: Any, app_id: str) -> None:
    staff = signed_in(client)
    me = _link(staff, app_id)
    tid = sandbox.add_template(app_id, "保养提醒", "车辆：{{thing1.DATA}}")
    data = _form("template", **{"template_id": tid, "tf_key": "thing1", "tf_value": "{{ vehicle.model }}"})
    assert _post(client, "/admin/compose/test-send", data).get_json()["ok"]
    drain()
    [got] = sandbox.messages_for(app_id, me.openid)
    assert got["via"] == "template" and "Model Y" in str(got["body"])


def test_test_send_without_a_linked_wechat_points_to_the_linking_page(client: Any, app_id: str) -> None:
    signed_in(client)
    resp = _post(client, "/admin/compose/test-send", _form())
    body = resp.get_json()
    assert resp.status_code == 409 and "先绑定" in body["error"] and body["link_url"] == "/admin/compose/wechat"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0


def test_test_sends_are_limited_to_ten_an_hour(client: Any, app_id: str) -> None:
    staff = signed_in(client)
    _link(staff, app_id)
    for _ in range(compose_admin.TEST_SENDS_PER_HOUR):
        assert _post(client, "/admin/compose/test-send", _form()).status_code == 200
    resp = _post(client, "/admin/compose/test-send", _form())
    assert resp.status_code == 429 and "10" in resp.get_json()["error"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 10


def test_dealer_staff_may_not_compose(client: Any, app_id: str) -> None:
    signed_in(client, Role.DEALER_STAFF)
    assert _post(client, "/admin/compose/preview", _form()).status_code == 403
    assert client.get("/admin/compose/wechat").status_code == 403
    assert "/admin/compose/wechat" not in text(client.get("/admin/"))


def test_try_page_shows_the_editor_with_template_choices(client: Any, app_id: str) -> None:
    signed_in(client)
    sandbox.add_template(app_id, "到店提醒", "{{thing1.DATA}}{{time2.DATA}}")
    page = text(client.get("/admin/compose/"))
    assert 'data-compose-prefix="m_"' in page and 'data-keywords="thing1,time2"' in page and "到店提醒" in page
    assert "compose.js" in page and "/admin/compose/wechat" in page
