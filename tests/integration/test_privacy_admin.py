"""The privacy pages: export download, erasure confirmation, the request log, the 360 page's panel and
erased state; 403 for dealer staff with a clear message, 404 for another dealer's customer everywhere."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, Customer, PrivacyKind, PrivacyRequest, Role, Vehicle
from tests.integration.admin_support import post, signed_in, text
from tests.integration.test_privacy_service import MOBILE, build_world

pytestmark = pytest.mark.integration


@pytest.fixture
def world(app: Any) -> dict[str, Any]:
    return build_world()


def _requests() -> list[PrivacyRequest]:
    return list(db.session.scalars(sa.select(PrivacyRequest).order_by(PrivacyRequest.id)))


def test_manager_exports_a_zip(client: Any, world: dict[str, Any]) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=world["a"])
    cid = world["zhang"].id
    page = text(client.get(f"/admin/privacy/customers/{cid}/export"))
    assert "导出客户个人信息" in page and "customer.json" in page
    resp = post(client, f"/admin/privacy/customers/{cid}/export", {"reason": "客户到店申请"})
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    assert resp.headers["Content-Disposition"].startswith(f'attachment; filename="customer-{cid}-')
    assert resp.headers["Cache-Control"] == "no-store"
    with zipfile.ZipFile(io.BytesIO(resp.data)) as zf:
        doc = json.loads(zf.read("customer.json"))
    assert doc["customer"][0]["mobile"] == MOBILE and doc["reason"] == "客户到店申请"
    assert [(r.kind, r.customer_id) for r in _requests()] == [(PrivacyKind.EXPORT, cid)]


def test_export_without_reason_says_why_and_records_nothing(client: Any, world: dict[str, Any]) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=world["a"])
    resp = post(client, f"/admin/privacy/customers/{world['zhang'].id}/export", {"reason": ""})
    assert resp.status_code == 422
    assert "请说明原因" in text(resp)
    assert _requests() == []


def test_dealer_staff_get_403_with_a_clear_message(client: Any, world: dict[str, Any]) -> None:
    signed_in(client, Role.DEALER_STAFF, dealer=world["a"])
    cid = world["zhang"].id
    for method, path in (("get", f"/admin/privacy/customers/{cid}/export"),
                         ("post", f"/admin/privacy/customers/{cid}/export"),
                         ("get", f"/admin/privacy/customers/{cid}/erase"),
                         ("post", f"/admin/privacy/customers/{cid}/erase"), ("get", "/admin/privacy/")):
        resp = post(client, path, {"reason": "x", "confirm": str(cid)}) if method == "post" else client.get(path)
        assert resp.status_code == 403, path
        assert "只有经销商经理和品牌管理员可以导出或删除客户的个人信息" in text(resp)
    view = text(client.get(f"/admin/customers/{cid}"))
    assert 'id="privacy"' not in view and "/admin/privacy/" not in view  # no panel, no nav item
    assert _requests() == []


@pytest.mark.parametrize("role", [Role.DEALER_MANAGER, Role.DEALER_STAFF])
def test_another_dealers_customer_is_404_on_every_route(client: Any, world: dict[str, Any], role: Role) -> None:
    signed_in(client, role, dealer=world["b"])
    cid = world["zhang"].id
    for path in (f"/admin/privacy/customers/{cid}/export", f"/admin/privacy/customers/{cid}/erase"):
        assert client.get(path).status_code == 404
        assert post(client, path, {"reason": "x", "confirm": str(cid)}).status_code == 404
    assert client.get("/admin/privacy/customers/999999/erase").status_code == 404
    assert _requests() == []
    db.session.expire_all()
    assert db.session.get(Customer, cid).erased_at is None  # type: ignore[union-attr]


def test_request_list_is_scoped_to_the_dealer(client: Any, world: dict[str, Any]) -> None:
    with db.transaction() as s:
        for dealer, customer in ((world["a"], world["zhang"]), (world["b"], world["other"])):
            s.add(PrivacyRequest(account_id=dealer.account_id, dealer_id=dealer.id, customer_id=customer.id,
                                 kind=PrivacyKind.EXPORT, reason=f"原因-{dealer.code}"))
    signed_in(client, Role.DEALER_MANAGER, dealer=world["b"])
    html = text(client.get("/admin/privacy/"))
    assert "原因-PB" in html and "原因-PA" not in html
    assert "隐私请求" in html


def test_erase_confirmation_page_then_erasure(client: Any, world: dict[str, Any]) -> None:
    manager = signed_in(client, Role.DEALER_MANAGER, dealer=world["a"], display_name="赵经理")
    cid = world["zhang"].id
    view = text(client.get(f"/admin/customers/{cid}"))
    assert f'href="/admin/privacy/customers/{cid}/erase"' in view and f"/admin/privacy/customers/{cid}/export" in view
    assert f'data-customer="{cid}"' in text(client.get("/admin/customers/"))
    page = text(client.get(f"/admin/privacy/customers/{cid}/erase"))
    assert "永久删除" in page and "同时删除微信消息" in page
    assert "1 个粉丝还绑定了其他经销商" in page
    wrong = post(client, f"/admin/privacy/customers/{cid}/erase", {"confirm": "12", "reason": ""})
    assert wrong.status_code == 422
    assert f"请准确输入客户编号 {cid} 以确认" in text(wrong) and "请说明原因" in text(wrong)
    assert _requests() == []
    ok = post(client, f"/admin/privacy/customers/{cid}/erase",
              {"confirm": str(cid), "reason": "客户书面申请", "erase_messages": "y"})
    assert ok.status_code == 303 and ok.headers["Location"].endswith(f"/admin/customers/{cid}")
    req = _requests()[-1]
    assert (req.kind, req.staff_id, req.detail["erase_messages"]) == (PrivacyKind.ERASE, manager.id, True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Vehicle).where(Vehicle.customer_id == cid)) == 0
    audit = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "privacy.erase")).one()
    assert audit.staff_id == manager.id
    erased = text(client.get(f"/admin/customers/{cid}"))
    assert "该客户的个人信息已删除" in erased and "客户书面申请" in erased and "赵经理" in erased
    for personal in ("张伟", MOBILE, "沪A12345", "客户说下周来做保养", "我的车牌是"):
        assert personal not in erased, personal
    assert 'id="privacy-erase"' not in erased and "note-text" not in erased
    merged = text(client.get(f"/admin/customers/{world['old'].id}"))
    assert "该客户的个人信息已删除" in merged and "张伟旧档" not in merged
    assert f'data-customer="{cid}"' not in text(client.get("/admin/customers/"))  # the list hides it
    listing = text(client.get("/admin/privacy/"))
    assert f"#{cid}" in listing and "客户书面申请" in listing and "删除" in listing
    again = client.get(f"/admin/privacy/customers/{cid}/erase")
    assert again.status_code == 303  # already erased: back to the page, with the reason flashed
    assert "该客户的个人信息已被删除" in text(client.get(again.headers["Location"]))


def test_merged_record_cannot_be_erased_directly(client: Any, world: dict[str, Any]) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=world["a"])
    old = world["old"].id
    view = text(client.get(f"/admin/customers/{old}"))
    assert 'id="privacy-erase"' not in view and "如需删除，请打开保留的档案" in view
    resp = post(client, f"/admin/privacy/customers/{old}/erase", {"confirm": str(old), "reason": "x"})
    assert resp.status_code == 303
    assert f"该档案已合并到客户 #{world['zhang'].id}" in text(client.get(resp.headers["Location"]))
    assert _requests() == []


def test_brand_admin_sees_every_dealer_and_can_export(client: Any, world: dict[str, Any]) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    resp = post(client, f"/admin/privacy/customers/{world['other'].id}/export", {"reason": "总部处理"})
    assert resp.status_code == 200 and resp.mimetype == "application/zip"
    html = text(client.get("/admin/privacy/"))
    assert "总部处理" in html and "乙店" in html
