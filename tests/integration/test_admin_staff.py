"""Brand admin pages: staff accounts, dealers and dealer QR codes; the `scrm user create` service."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, Dealer, QrScene, Role, SceneKind, StaffUser
from scrm.sandbox import state as sandbox
from scrm.security import verify_password
from scrm.services.errors import DomainError
from scrm.services.staff import create_staff_cli
from tests.factories import make_dealer, make_staff
from tests.integration.admin_support import login, post, signed_in, text

pytestmark = pytest.mark.integration


def _staff() -> dict[str, StaffUser]:
    db.session.remove()
    return {u.username: u for u in db.session.scalars(sa.select(StaffUser))}


def _audit(action: str) -> list[AuditLog]:
    db.session.remove()
    return list(db.session.scalars(sa.select(AuditLog).where(AuditLog.action == action)))


def test_create_staff_then_they_can_sign_in(client: Any, app: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    dealer = make_dealer()
    resp = post(client, "/admin/staff/new", {"username": "SH.Zhang", "display_name": "张顾问", "role": "dealer_staff",
                                             "dealer_id": str(dealer.id), "password": "a-long-password"})
    assert resp.status_code == 303
    user = _staff()["sh.zhang"]
    assert (user.role, user.dealer_id, user.display_name, user.active) == (Role.DEALER_STAFF, dealer.id, "张顾问", True)
    assert verify_password(user.password_hash, "a-long-password")
    assert _audit("staff.create")[0].detail == {"username": "sh.zhang", "role": "dealer_staff"}
    assert "sh.zhang" in text(client.get("/admin/staff/"))
    assert login(app.test_client(), "sh.zhang", "a-long-password").status_code == 303


@pytest.mark.parametrize(("change", "message"), [
    ({"username": "ab"}, "用户名需为 3–64 个字符"),
    ({"username": "has space"}, "用户名需为 3–64 个字符"),
    ({"username": "taken.one"}, "该用户名已被使用。"),
    ({"password": "short"}, "密码至少 10 个字符。"),
    ({"password": "new.person"}, "密码不能与用户名相同。"),
    ({"role": "root"}, "请选择角色。"),
    ({"dealer_id": ""}, "请选择该员工所属的经销商。"),
    ({"dealer_id": "999999"}, "请选择该员工所属的经销商。"),
    ({"role": "brand_admin"}, "品牌管理员不属于任何经销商。"),
])
def test_staff_validation(client: Any, change: dict[str, str], message: str) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    make_staff(Role.BRAND_ADMIN, username="taken.one")
    dealer = make_dealer()
    data = {"username": "new.person", "display_name": "", "role": "dealer_manager", "dealer_id": str(dealer.id),
            "password": "a-long-password", **change}
    before = set(_staff())
    resp = post(client, "/admin/staff/new", data)
    assert resp.status_code == 422 and message in text(resp)
    assert set(_staff()) == before and _audit("staff.create") == []


def test_staff_of_another_accounts_dealer_is_refused(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    foreign = make_dealer(account="safe")
    resp = post(client, "/admin/staff/new", {"username": "spy.one", "role": "dealer_staff",
                                             "dealer_id": str(foreign.id), "password": "a-long-password"})
    assert resp.status_code == 422 and "spy.one" not in _staff()


def test_deactivate_reactivate_and_not_yourself(client: Any) -> None:
    me = signed_in(client, Role.BRAND_ADMIN)
    other = make_staff(Role.DEALER_STAFF, dealer=make_dealer())
    assert post(client, f"/admin/staff/{other.id}/deactivate").status_code == 303
    assert _staff()[other.username].active is False
    assert post(client, f"/admin/staff/{other.id}/activate").status_code == 303
    assert _staff()[other.username].active is True
    resp = post(client, f"/admin/staff/{me.id}/deactivate", follow=True)
    assert "不能停用自己的账号。" in text(resp) and _staff()[me.username].active is True
    assert [len(_audit(a)) for a in ("staff.deactivate", "staff.activate")] == [1, 1]


def test_reset_password_validation(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    other = make_staff(Role.DEALER_STAFF, dealer=make_dealer())
    old_hash = other.password_hash
    resp = post(client, f"/admin/staff/{other.id}/password", {"password": "short"})
    assert resp.status_code == 422 and "密码至少 10 个字符。" in text(resp)
    assert _staff()[other.username].password_hash == old_hash
    assert post(client, f"/admin/staff/{other.id}/password", {"password": "0123456789abc"}).status_code == 303
    assert verify_password(_staff()[other.username].password_hash, "0123456789abc")
    assert len(_audit("staff.password_reset")) == 1


def test_dealer_create_and_edit(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    data = {"code": "hz001", "name": "杭州滨江4S店", "city": "杭州", "address": "江南大道 1 号",
            "phone": "0571-8888 0000",
            "latitude": "30.2084", "longitude": "120.2119", "welcome_text": "欢迎来到滨江店！", "active": "y"}
    assert post(client, "/admin/dealers/new", data).status_code == 303
    db.session.remove()
    dealer = db.session.scalar(sa.select(Dealer).where(Dealer.code == "HZ001"))
    assert dealer is not None and dealer.latitude == Decimal("30.208400") and dealer.welcome_text == "欢迎来到滨江店！"
    form = text(client.get(f"/admin/dealers/{dealer.id}/edit"))
    assert 'value="30.208400"' in form and "欢迎来到滨江店！" in form
    renamed = {**data, "name": "杭州滨江旗舰店", "active": ""}
    assert post(client, f"/admin/dealers/{dealer.id}/edit", renamed).status_code == 303
    db.session.remove()
    dealer = db.session.get(Dealer, dealer.id)
    assert dealer is not None and (dealer.name, dealer.active) == ("杭州滨江旗舰店", False)
    [update] = _audit("dealer.update")
    assert update.detail["changes"]["name"] == ["杭州滨江4S店", "杭州滨江旗舰店"] and update.dealer_id == dealer.id


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"code": "bad code"}, "code", "编码：1–32 个大写字母"),
    ({"code": "DUP01"}, "code", "该编码已被其他经销商使用。"),
    ({"name": ""}, "name", "名称需为 1 到 100 个字符。"),
    ({"phone": "call me"}, "phone", "电话只能包含数字"),
    ({"latitude": "91"}, "latitude", "请输入 -90 到 90 之间的数字。"),
    ({"latitude": "abc"}, "latitude", "请输入 -90 到 90 之间的数字。"),
    ({"longitude": "NaN", "latitude": "30"}, "longitude", "请输入 -180 到 180 之间的数字。"),
    ({"latitude": "30"}, "longitude", "纬度和经度需同时填写，或都不填。"),
    ({"welcome_text": "欢" * 683}, "welcome_text", "欢迎语为 2049 字节"),
])
def test_dealer_validation(client: Any, change: dict[str, str], field: str, message: str) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    make_dealer(code="DUP01")
    data = {"code": "NEW01", "name": "新店", "city": "", "address": "", "phone": "", "latitude": "", "longitude": "",
            "welcome_text": "", "active": "y", **change}
    resp = post(client, "/admin/dealers/new", data)
    assert resp.status_code == 422
    page = text(resp)
    start = page.index(f'id="{field}"')
    assert message in page[start:start + 1500]
    db.session.remove()
    assert db.session.scalar(sa.select(sa.func.count(Dealer.id))) == 1


def test_dealer_qr_code(client: Any, live_server: Any, settings: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    dealer = make_dealer(code="QR001", name="青岛4S店")
    resp = post(client, "/admin/account/qr", {"dealer_id": str(dealer.id), "label": "", "permanent": "y", "days": "30"})
    assert resp.status_code == 303
    db.session.remove()
    scene = db.session.scalar(sa.select(QrScene))
    assert scene is not None
    assert (scene.scene, scene.kind, scene.dealer_id, scene.label, scene.permanent, scene.expires_at) == (
        "dealer:QR001", SceneKind.DEALER, dealer.id, "青岛4S店", True, None)
    assert scene.ticket
    page = text(client.get("/admin/account/"))
    assert "/sandbox/wx/cgi-bin/showqrcode?ticket=" in page and "dealer:QR001" in page
    image = client.get("/sandbox/wx/cgi-bin/showqrcode", query_string={"ticket": scene.ticket})
    assert image.status_code == 200 and image.data[:8] == b"\x89PNG\r\n\x1a\n"
    again = post(client, "/admin/account/qr", {"dealer_id": str(dealer.id), "label": "x", "permanent": "y"})
    assert again.status_code == 422 and "该经销商已有有效的二维码。" in text(again)
    assert len(_audit("qr.create")) == 1


def test_temporary_qr_code_expires(client: Any, live_server: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    dealer = make_dealer()
    temporary = {"dealer_id": str(dealer.id), "label": "车展", "days": "3"}
    assert post(client, "/admin/account/qr", temporary).status_code == 303
    db.session.remove()
    scene = db.session.scalar(sa.select(QrScene))
    assert scene is not None and scene.permanent is False and scene.expires_at is not None
    bad = post(client, "/admin/account/qr", {"dealer_id": str(dealer.id), "label": "车展", "days": "90"})
    assert bad.status_code == 422 and "1 到 30 天" in text(bad)


def test_qr_failure_from_wechat_is_explained(client: Any, live_server: Any, settings: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    dealer = make_dealer()
    sandbox.set_quota(settings.accounts["demo"].app_id, "qrcode_create", 0)
    resp = post(client, "/admin/account/qr", {"dealer_id": str(dealer.id), "label": "x", "permanent": "y"})
    assert resp.status_code == 502 and "微信未能生成二维码" in text(resp)
    db.session.remove()
    assert db.session.scalar(sa.select(sa.func.count(QrScene.id))) == 0


def test_account_page_masks_secrets(client: Any, settings: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    page = text(client.get("/admin/account/"))
    demo = settings.accounts["demo"]
    assert demo.app_id in page and f"{settings.app.public_url}/wechat/demo" in page
    assert demo.app_secret not in page and demo.token not in page
    assert settings.accounts["safe"].app_id not in page  # another account's settings are not shown


def test_account_page_for_safe_mode_masks_the_aes_key(client: Any, settings: Any) -> None:
    make_staff(Role.BRAND_ADMIN, account="safe", username="safe.admin")
    login(client, "safe.admin")
    page = text(client.get("/admin/account/"))
    key = settings.accounts["safe"].encoding_aes_key
    assert "安全模式（加密）" in page and key not in page and f"{key[:2]}••••••••{key[-2:]}" in page


def test_cli_service(app_ctx: Any) -> None:
    dealer = make_dealer(code="CLI01")
    uid = create_staff_cli("cli.user", "dealer_manager", "demo", "cli01", "命令行", "password-1234")
    user = db.session.get(StaffUser, uid)
    assert user is not None and user.dealer_id == dealer.id and user.role == Role.DEALER_MANAGER
    account_id = user.account_id
    with pytest.raises(DomainError) as exc:
        create_staff_cli("x", "brand_admin", "demo", None, "", "short")
    assert "Username: 3-64 characters" in exc.value.message and "at least 10 characters" in exc.value.message
    with pytest.raises(DomainError, match="Unknown official account nope"):
        create_staff_cli("ok.user", "brand_admin", "nope", None, "", "password-1234")
    with pytest.raises(DomainError, match="Unknown dealer code ZZZ"):
        create_staff_cli("ok.user", "dealer_staff", "demo", "ZZZ", "", "password-1234")
    [row] = _audit("staff.create")
    assert row.staff_id is None and row.account_id == account_id
