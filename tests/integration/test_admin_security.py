"""CSRF on every form, security headers, error pages, and which role sees which page."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, KeywordReply, Role, StaffUser
from tests.factories import make_dealer, make_keyword, make_staff
from tests.integration.admin_support import csrf, login, signed_in, text

pytestmark = pytest.mark.integration


def _count(model: Any) -> int:
    db.session.remove()
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_post_without_csrf_token_is_rejected_and_changes_nothing(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    reply = make_keyword("价格", "请致电")
    before = (_count(KeywordReply), _count(StaffUser), _count(AuditLog))
    resp = client.post("/admin/keywords/new", data={"keyword": "新", "match": "exact", "kind": "text",
                                                    "text": "hi", "priority": "0", "action": "save"})
    assert resp.status_code == 400
    assert "表单已过期" in text(resp)
    assert client.post(f"/admin/keywords/{reply.id}/delete").status_code == 400
    assert client.post("/admin/staff/new", data={"username": "sneaky", "password": "x" * 12,
                                                 "role": "brand_admin"}).status_code == 400
    wrong = client.post(f"/admin/keywords/{reply.id}/delete", data={"csrf_token": "forged"})
    assert wrong.status_code == 400
    assert client.post("/admin/logout").status_code == 400
    assert client.get("/admin/").status_code == 200  # still signed in: logout needs the token too
    assert (_count(KeywordReply), _count(StaffUser), _count(AuditLog)) == before


def test_login_form_needs_the_token(client: Any) -> None:
    make_staff(Role.BRAND_ADMIN, username="hq.csrf")
    from tests.factories import PASSWORD

    resp = client.post("/admin/login", data={"username": "hq.csrf", "password": PASSWORD})
    assert resp.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_a_token_from_another_session_is_refused(client: Any, app: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    stranger = app.test_client()
    foreign = csrf(stranger)
    resp = client.post("/admin/keywords/new", data={"keyword": "x", "text": "y", "csrf_token": foreign})
    assert resp.status_code == 400


def test_machine_endpoints_are_exempt(app: Any, client: Any) -> None:
    from scrm.wechat.webhook import WebhookLane

    exempt = {bp.name for bp in app.extensions["csrf"]._exempt_blueprints}
    assert "health" in exempt
    assert "admin" not in exempt
    assert isinstance(app.wsgi_app, WebhookLane)  # WeChat's pushes are answered before Flask's CSRF check
    assert client.post("/wechat/demo", data=b"<xml/>").status_code == 403  # the signature, not CSRF (400)


def test_security_headers_on_admin_pages(client: Any) -> None:
    for resp in (client.get("/admin/login"), client.get("/admin/nope")):
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "same-origin"
    signed_in(client, Role.BRAND_ADMIN)
    assert client.get("/admin/").headers["Cache-Control"] == "no-store"
    assert "X-Frame-Options" not in client.get("/healthz").headers


def test_pages_have_no_inline_script_or_style(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    for path in ("/admin/", "/admin/keywords/new", "/admin/menu/", "/admin/staff/new", "/admin/audit/"):
        page = text(client.get(path))
        assert "<script>" not in page and " style=" not in page and "onclick=" not in page, path


def test_unknown_admin_url_gets_the_admin_404(client: Any) -> None:
    resp = client.get("/admin/does-not-exist")
    assert resp.status_code == 404 and "页面不存在" in text(resp)


PAGES = ["/admin/", "/admin/followers/", "/admin/keywords/", "/admin/keywords/new", "/admin/menu/",
         "/admin/account/", "/admin/staff/", "/admin/staff/new", "/admin/dealers/", "/admin/dealers/new",
         "/admin/audit/"]
EXPECTED = {
    Role.BRAND_ADMIN: dict.fromkeys(PAGES, 200),
    Role.DEALER_MANAGER: {**dict.fromkeys(PAGES, 200), "/admin/staff/": 403, "/admin/staff/new": 403,
                          "/admin/dealers/": 403, "/admin/dealers/new": 403},
    Role.DEALER_STAFF: {**dict.fromkeys(PAGES, 200), "/admin/staff/": 403, "/admin/staff/new": 403,
                        "/admin/dealers/": 403, "/admin/dealers/new": 403, "/admin/keywords/new": 403,
                        "/admin/audit/": 403},
}


@pytest.mark.parametrize("role", list(Role))
def test_each_page_for_each_role(client: Any, role: Role) -> None:
    dealer = make_dealer()
    make_keyword("营业时间", "9:00-18:00")
    make_keyword("店内活动", "本周六试驾会", dealer_id=dealer.id)
    signed_in(client, role, dealer=dealer)
    for path, status in EXPECTED[role].items():
        resp = client.get(path)
        assert resp.status_code == status, (role, path, resp.status_code)
        body = text(resp)
        if status == 403:
            assert "您没有权限执行此操作" in body
        else:
            assert 'class="sidenav"' in body
    nav = text(client.get("/admin/"))
    assert ("/admin/staff/" in nav) == (role == Role.BRAND_ADMIN)
    assert ("/admin/audit/" in nav) == (role != Role.DEALER_STAFF)
    assert ('href="/admin/keywords/new"' in text(client.get("/admin/keywords/"))) == (role != Role.DEALER_STAFF)


def test_topbar_shows_user_role_and_dealer(client: Any) -> None:
    dealer = make_dealer(name="杭州西湖4S店")
    signed_in(client, Role.DEALER_MANAGER, dealer=dealer, display_name="陈店长")
    page = text(client.get("/admin/"))
    assert "陈店长" in page and "店长" in page and "杭州西湖4S店" in page


def test_login_page_in_english(client: Any) -> None:
    make_staff(Role.BRAND_ADMIN, username="hq.en", language="en")
    login(client, "hq.en")
    page = text(client.get("/admin/keywords/"))
    assert "Keyword replies" in page and "关键词回复" not in page
