"""Staff link their own WeChat: a code made on the admin page, sent in chat through the real webhook."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, Role, StaffUser
from scrm.services import staff_wechat
from tests.factories import make_follower, make_staff
from tests.integration.admin_support import post, signed_in, text
from tests.integration.binding_support import Chat

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _unlink_staff_at_end(app: Any) -> Iterator[None]:
    """staff_users.follower_id and followers.staff_id point at each other: SQLite's table-by-table cleanup
    between tests (tests/conftest.py) can only delete the followers once the links are gone."""
    yield
    with db.transaction() as s:
        s.execute(sa.update(StaffUser).values(follower_id=None))


def _staff(staff_id: int) -> StaffUser:
    with db.transaction() as s:
        row = s.get(StaffUser, staff_id, populate_existing=True)
        assert row is not None
        return row


def _code(client: Any) -> str:
    resp = post(client, "/admin/compose/wechat/code")
    assert resp.status_code == 303
    page = text(client.get("/admin/compose/wechat"))
    m = re.search(r'id="link-code">(\d{6})<', page)
    assert m, page
    assert f"绑定员工 {m.group(1)}" in page
    return m.group(1)


def test_linking_through_chat_sets_the_follower_and_is_audited(client: Any, settings: Any) -> None:
    staff = signed_in(client, Role.BRAND_ADMIN, display_name="王经理")
    assert "还没有绑定" in text(client.get("/admin/compose/wechat"))
    code = _code(client)
    f = make_follower()
    reply = Chat(client, settings, f.openid).send(f"绑定员工 {code}")
    assert "王经理" in reply and "测试消息" in reply
    assert _staff(staff.id).follower_id == f.id
    log = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "staff.link_wechat"))
    assert log is not None and log.staff_id == staff.id and log.target_id == str(f.id)
    page = text(client.get("/admin/compose/wechat"))
    assert f.openid[:6] in page and f.openid not in page and 'id="link-code"' not in page
    other = make_follower()
    assert "错误" in Chat(client, settings, other.openid).send(f"绑定员工 {code}")   # used once only
    assert _staff(staff.id).follower_id == f.id


def test_english_words_and_a_new_code_replaces_the_old(client: Any, settings: Any) -> None:
    staff = signed_in(client)
    first = _code(client)
    second = _code(client)
    f = make_follower()
    chat = Chat(client, settings, f.openid)
    if first != second:
        assert "错误" in chat.send(f"绑定员工 {first}")
    assert "已绑定" in chat.send(f"Staff {second}")
    assert _staff(staff.id).follower_id == f.id


def test_three_wrong_codes_lock_the_follower_out(client: Any, settings: Any) -> None:
    staff = signed_in(client)
    code = _code(client)
    chat = Chat(client, settings, make_follower().openid)
    wrong = "000000" if code != "000000" else "111111"
    assert "还有 2 次机会" in chat.send(f"绑定员工 {wrong}")
    assert "还有 1 次机会" in chat.send(f"绑定员工 {wrong}")
    assert "10 分钟" in chat.send(f"绑定员工 {wrong}")
    assert "10 分钟" in chat.send(f"绑定员工 {code}")                  # even the right code, while locked
    assert _staff(staff.id).follower_id is None
    assert "绑定员工" in chat.send("绑定员工")                           # the bare word explains where codes come from


def test_a_follower_is_linked_to_one_staff_member(client: Any, settings: Any) -> None:
    first = make_staff(Role.BRAND_ADMIN)
    second = make_staff(Role.BRAND_ADMIN)
    f = make_follower()
    chat = Chat(client, settings, f.openid)
    chat.send(f"绑定员工 {staff_wechat.new_code(first.id)}")
    chat.send(f"绑定员工 {staff_wechat.new_code(second.id)}")
    assert (_staff(first.id).follower_id, _staff(second.id).follower_id) == (None, f.id)


def test_unlink(client: Any, settings: Any) -> None:
    staff = signed_in(client)
    f = make_follower()
    Chat(client, settings, f.openid).send(f"绑定员工 {_code(client)}")
    assert _staff(staff.id).follower_id == f.id
    resp = post(client, "/admin/compose/wechat/unlink", follow=True)
    assert "不再绑定" in text(resp)
    assert _staff(staff.id).follower_id is None
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "staff.unlink_wechat")) is not None
