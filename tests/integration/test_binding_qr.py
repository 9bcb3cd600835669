"""One-time binding QR codes: made by staff through the sandbox's qrcode API, scanned through the webhook."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.db import utcnow
from scrm.models import AuditLog, BindingCode, BindMethod, Role, SceneKind
from scrm.sandbox.api_qrcode import find_ticket
from scrm.services import binding_codes, scenes
from scrm.services.accounts import account_id
from tests.factories import make_dealer, make_follower, make_staff
from tests.integration.binding_support import Chat, bindings, consents
from tests.integration.customer_support import make_customer, make_vehicle
from tests.integration.webhook_support import follower

pytestmark = pytest.mark.integration


@pytest.fixture
def shop(live_server: Any, app_ctx: Any, client: Any, settings: Any) -> dict[str, Any]:
    """A dealer, a customer with a car, a staff member, and a fresh code for the customer."""
    dealer = make_dealer(name="杭州滨江店", phone="0571-88886666")
    c = make_customer(dealer, name="王五", mobile="13812340000")
    make_vehicle(c, plate="浙A88888")
    staff = make_staff(Role.DEALER_STAFF, dealer=dealer)
    code = binding_codes.create_code(staff, c.id, ip="10.0.0.1")
    return {"dealer": dealer, "customer": c, "staff": staff, "code": code}


def _code(code_id: int) -> BindingCode:
    with db.transaction() as s:
        row = s.get(BindingCode, code_id, populate_existing=True)
        assert row is not None
        return row


def test_create_makes_a_temporary_wechat_qr_for_thirty_minutes(shop: dict[str, Any]) -> None:
    code = shop["code"]
    assert len(code.token) >= 16 and code.ticket and code.url
    assert timedelta(minutes=29) < code.expires_at - utcnow() <= timedelta(minutes=30)
    found = find_ticket(code.ticket)                    # the fake WeChat knows the ticket and its scene
    assert found is not None and found[1].scene == f"bind:{code.token}" and not found[1].permanent
    info = scenes.resolve_scene(account_id("demo"), f"bind:{code.token}")
    assert (info.kind, info.dealer_id) == (SceneKind.BIND, shop["dealer"].id)
    with db.transaction() as s:
        actions = list(s.scalars(sa.select(AuditLog.action).where(AuditLog.action.like("binding.%"))))
    assert actions == ["binding.code_create"]


def test_scan_asks_consent_then_binds_once(shop: dict[str, Any], client: Any, settings: Any) -> None:
    f = make_follower()
    chat = Chat(client, settings, f.openid)
    asked = chat.scan(f"bind:{shop['code'].token}")
    assert "杭州滨江店" in asked and "同意" in asked
    assert bindings() == []
    assert "绑定成功" in chat.send("同意")
    [b] = bindings()
    assert (b.follower_id, b.customer_id, b.method) == (f.id, shop["customer"].id, BindMethod.QR.value)
    [consent] = consents()
    assert consent.channel == BindMethod.QR and consent.text in asked
    used = _code(shop["code"].id)
    assert used.used_at is not None and used.follower_id == f.id
    bound_follower = follower(f.openid)
    assert bound_follower is not None and bound_follower.dealer_id == shop["dealer"].id
    other = Chat(client, settings, make_follower().openid)          # anyone scanning again is refused
    assert "已被使用或已过期" in other.scan(f"bind:{shop['code'].token}")
    assert "已被使用或已过期" in chat.scan(f"bind:{shop['code'].token}")
    assert len(bindings()) == 1


def test_two_people_scan_before_agreeing_only_the_first_agreement_binds(shop: dict[str, Any], client: Any,
                                                                          settings: Any) -> None:
    first, second = (Chat(client, settings, make_follower().openid) for _ in range(2))
    token = shop["code"].token
    first.scan(f"bind:{token}")
    second.scan(f"bind:{token}")
    assert "绑定成功" in second.send("同意")
    assert "已被使用或已过期" in first.send("同意")
    assert len(bindings()) == 1 and len(consents()) == 1


def test_expired_and_revoked_codes_are_refused(shop: dict[str, Any], client: Any, settings: Any) -> None:
    chat = Chat(client, settings, make_follower().openid)
    with db.transaction() as s:
        row = s.get(BindingCode, shop["code"].id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    assert "已被使用或已过期" in chat.scan(f"bind:{shop['code'].token}")
    fresh = binding_codes.create_code(shop["staff"], shop["customer"].id)
    binding_codes.revoke_code(shop["staff"], fresh.id, ip="10.0.0.1")
    assert _code(fresh.id).revoked_at is not None
    assert "已被使用或已过期" in chat.scan(f"bind:{fresh.token}")
    assert bindings() == []
    with db.transaction() as s:
        assert "binding.code_revoke" in set(s.scalars(sa.select(AuditLog.action)))


def test_a_code_revoked_after_the_scan_cannot_be_agreed_to(shop: dict[str, Any], client: Any,
                                                           settings: Any) -> None:
    chat = Chat(client, settings, make_follower().openid)
    chat.scan(f"bind:{shop['code'].token}")
    binding_codes.revoke_code(shop["staff"], shop["code"].id)
    assert "已被使用或已过期" in chat.send("同意")
    assert bindings() == []


def test_follow_through_a_bind_scene_welcomes_and_asks_consent(shop: dict[str, Any], client: Any,
                                                               settings: Any) -> None:
    chat = Chat(client, settings, "oFollowsWithCode0000000000001")
    reply = chat.follow(scene=f"bind:{shop['code'].token}")
    assert "欢迎关注" in reply and "同意" in reply and "杭州滨江店" in reply
    f = follower(chat.openid)
    assert f is not None and f.scene_kind == SceneKind.BIND and f.dealer_id == shop["dealer"].id
    assert "绑定成功" in chat.send("同意")
    assert [b.method for b in bindings()] == [BindMethod.QR.value]


def test_refusing_consent_after_a_scan_leaves_the_code_usable(shop: dict[str, Any], client: Any,
                                                              settings: Any) -> None:
    chat = Chat(client, settings, make_follower().openid)
    chat.scan(f"bind:{shop['code'].token}")
    assert "没有绑定" in chat.send("不同意")
    assert bindings() == [] and consents() == [] and _code(shop["code"].id).used_at is None


def test_other_scenes_still_show_the_dealer_card(shop: dict[str, Any], client: Any, settings: Any) -> None:
    chat = Chat(client, settings, make_follower().openid)
    reply = chat.scan(f"dealer:{shop['dealer'].code}")
    assert "杭州滨江店" in reply and "同意" not in reply


def test_a_dealer_user_cannot_make_a_code_for_another_dealers_customer(shop: dict[str, Any]) -> None:
    from scrm.services.errors import NotFound

    stranger = make_customer(make_dealer(), mobile="13500000000")
    with pytest.raises(NotFound):
        binding_codes.create_code(shop["staff"], stranger.id)
    with pytest.raises(NotFound):
        binding_codes.revoke_code(make_staff(Role.DEALER_STAFF, dealer=make_dealer()), shop["code"].id)


def test_a_redeemed_code_reads_used_in_the_same_session(shop: dict[str, Any]) -> None:
    token = shop["code"].token
    binding_codes.check(account_id("demo"), token)                 # loads the code into this thread's session
    f = make_follower()
    binding_codes.redeem(account_id("demo"), token, f.id, "同意联系", "zh")
    with pytest.raises(binding_codes.CodeInvalid):                 # not the stale copy loaded before the claim
        binding_codes.check(account_id("demo"), token)
