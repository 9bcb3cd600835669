"""Admin side of binding: the 360 partial, the code page and image, revoke, unbind, dealer isolation."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, BindingCode, BindMethod, ConsentRecord, Role
from tests.factories import make_dealer, make_follower
from tests.integration.admin_support import post, signed_in, text
from tests.integration.binding_support import bindings, timeline
from tests.integration.customer_support import bind, make_customer

pytestmark = pytest.mark.integration


@pytest.fixture
def shop(live_server: Any, app: Any) -> dict[str, Any]:
    dealer = make_dealer(name="杭州滨江店")
    c = make_customer(dealer, name="王五", mobile="13812340000")
    return {"dealer": dealer, "customer": c}


def _codes() -> list[BindingCode]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(BindingCode).order_by(BindingCode.id).execution_options(
            populate_existing=True)))


def _actions() -> list[str]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(AuditLog.action).where(AuditLog.action.like("binding.%"))
                              .order_by(AuditLog.id)))


def test_staff_make_a_code_see_it_big_and_revoke_it(client: Any, shop: dict[str, Any]) -> None:
    c = shop["customer"]
    signed_in(client, Role.DEALER_STAFF, dealer=shop["dealer"])
    page = text(client.get(f"/admin/customers/{c.id}"))
    assert 'id="make-binding-qr"' in page and "还没有联系授权记录" in page
    assert "data-unbind" not in page                                  # dealer staff may not unbind
    resp = post(client, f"/admin/binding/customers/{c.id}/codes")
    assert resp.status_code == 303
    [code] = _codes()
    assert resp.headers["Location"].endswith(f"/admin/binding/codes/{code.id}")
    shown = text(client.get(f"/admin/binding/codes/{code.id}"))
    assert 'data-state="open"' in shown and 'width="320"' in shown and "有效期至" in shown
    image = client.get(f"/admin/binding/codes/{code.id}/qr.png")
    assert image.status_code == 200 and image.mimetype == "image/png" and image.data[:4] == b"\x89PNG"
    assert "有效的绑定二维码" in text(client.get(f"/admin/customers/{c.id}"))
    assert post(client, f"/admin/binding/codes/{code.id}/revoke").status_code == 303
    assert _codes()[0].revoked_at is not None
    assert 'data-state="revoked"' in text(client.get(f"/admin/binding/codes/{code.id}"))
    assert _actions() == ["binding.code_create", "binding.code_revoke"]


def test_managers_unbind_and_see_the_consent_history(client: Any, shop: dict[str, Any]) -> None:
    c = shop["customer"]
    f = make_follower(dealer_id=shop["dealer"].id)
    b = bind(c, f)
    with db.transaction() as s:
        s.add(ConsentRecord(account_id=c.account_id, dealer_id=c.dealer_id, customer_id=c.id, follower_id=f.id,
                            granted=True, channel=BindMethod.CHAT, text="联系授权：测试措辞", language="zh"))
    signed_in(client, Role.DEALER_MANAGER, dealer=shop["dealer"])
    page = text(client.get(f"/admin/customers/{c.id}"))
    assert "联系授权：测试措辞" in page and "微信聊天" in page and f'data-unbind="{b.id}"' in page
    assert post(client, f"/admin/binding/bindings/{b.id}/unbind").status_code == 303
    assert bindings() == []
    assert _actions() == ["binding.unbind"]
    assert ("binding", "Unbound from WeChat by staff") in timeline(c.id)


def test_dealer_staff_cannot_unbind(client: Any, shop: dict[str, Any]) -> None:
    b = bind(shop["customer"], make_follower())
    signed_in(client, Role.DEALER_STAFF, dealer=shop["dealer"])
    assert post(client, f"/admin/binding/bindings/{b.id}/unbind").status_code == 403
    assert len(bindings()) == 1


def test_another_dealers_user_gets_404_everywhere(client: Any, shop: dict[str, Any]) -> None:
    c = shop["customer"]
    b = bind(c, make_follower())
    signed_in(client, Role.BRAND_ADMIN)
    assert post(client, f"/admin/binding/customers/{c.id}/codes").status_code == 303
    [code] = _codes()
    other = make_dealer()
    outsider = client.application.test_client()
    signed_in(outsider, Role.DEALER_MANAGER, dealer=other)
    assert post(outsider, f"/admin/binding/customers/{c.id}/codes").status_code == 404
    assert outsider.get(f"/admin/binding/codes/{code.id}").status_code == 404
    assert outsider.get(f"/admin/binding/codes/{code.id}/qr.png").status_code == 404
    assert post(outsider, f"/admin/binding/codes/{code.id}/revoke").status_code == 404
    assert post(outsider, f"/admin/binding/bindings/{b.id}/unbind").status_code == 404
    assert _codes()[0].revoked_at is None and len(bindings()) == 1 and len(_codes()) == 1


def test_posts_need_a_csrf_token(client: Any, shop: dict[str, Any]) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    assert client.post(f"/admin/binding/customers/{shop['customer'].id}/codes").status_code == 400
    assert _codes() == []
