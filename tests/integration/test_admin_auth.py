"""Sign-in, sign-out, rate limit, sessions and the language switch."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from scrm import db
from scrm.models import AuditLog, Role, StaffUser
from scrm.security import needs_rehash
from tests.factories import PASSWORD, make_dealer, make_staff
from tests.integration.admin_support import csrf, login, post, signed_in, text

pytestmark = pytest.mark.integration


def _audit(action: str) -> list[AuditLog]:
    db.session.remove()
    return list(db.session.scalars(sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id)))


def test_login_success_starts_a_session_and_is_audited(client: Any) -> None:
    user = make_staff(Role.BRAND_ADMIN, username="hq.li")
    resp = login(client, "HQ.Li ")  # trimmed and case-insensitive
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/admin/")
    assert client.get("/admin/").status_code == 200
    rows = _audit("auth.login")
    assert [(r.staff_id, r.account_id, r.ip) for r in rows] == [(user.id, user.account_id, "127.0.0.1")]
    assert db.session.get(StaffUser, user.id).last_login_at is not None  # type: ignore[union-attr]


def test_unknown_user_and_wrong_password_get_the_same_answer(client: Any) -> None:
    make_staff(Role.BRAND_ADMIN, username="hq.wang")
    wrong = login(client, "hq.wang", "not-the-password")
    unknown = login(client, "nobody.here", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码错误。" in text(wrong) and "用户名或密码错误。" in text(unknown)
    assert client.get("/admin/").status_code == 302
    reasons = [r.detail["reason"] for r in _audit("auth.login_failed")]
    assert reasons == ["wrong_password", "unknown_user"]
    assert _audit("auth.login_failed")[1].account_id is None  # no account can be named for a stranger


def test_inactive_user_cannot_sign_in(client: Any) -> None:
    make_staff(Role.BRAND_ADMIN, username="hq.gone", active=False)
    resp = login(client, "hq.gone")
    assert resp.status_code == 401
    assert "该账号已停用" in text(resp)
    assert client.get("/admin/").status_code == 302
    assert _audit("auth.login_failed")[0].detail["reason"] == "inactive"


def test_rate_limit_per_username(client: Any, settings: Any) -> None:
    make_staff(Role.BRAND_ADMIN, username="hq.zhao")
    limit = settings.app.login_attempts_per_15min
    for _ in range(limit):
        assert login(client, "hq.zhao", "wrong-password-1").status_code == 401
    blocked = login(client, "hq.zhao")  # even the right password is refused now
    assert blocked.status_code == 429
    assert "登录尝试次数过多" in text(blocked) and "15 分钟" in text(blocked)
    assert client.get("/admin/").status_code == 302
    assert len(_audit("auth.login_blocked")) == 1


def test_rate_limit_per_ip_covers_unknown_usernames(client: Any, settings: Any) -> None:
    make_staff(Role.BRAND_ADMIN, username="hq.sun")
    for i in range(settings.app.login_attempts_per_15min):
        assert login(client, f"guess{i}", "x" * 12).status_code == 401
    assert login(client, "hq.sun").status_code == 429  # same address, a real user: still blocked


def test_success_resets_the_username_counter(client: Any, settings: Any) -> None:
    make_staff(Role.BRAND_ADMIN, username="hq.qian")
    for _ in range(settings.app.login_attempts_per_15min - 1):
        login(client, "hq.qian", "wrong-password-2")
    assert login(client, "hq.qian").status_code == 303
    from scrm import runtime
    from scrm.services.staff import _login_keys

    ukey, _ = _login_keys("hq.qian", "127.0.0.1")
    assert runtime.get().redis.get(ukey) is None


def test_session_is_replaced_on_login(client: Any) -> None:
    make_staff(Role.BRAND_ADMIN, username="hq.zhou")
    with client.session_transaction() as sess:
        sess["planted"] = "by-an-attacker"
    login(client, "hq.zhou")
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert set(sess) >= {"staff_id", "fp"}


def test_session_cookie_flags(client: Any) -> None:
    make_staff(Role.BRAND_ADMIN, username="hq.wu")
    resp = login(client, "hq.wu")
    cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith("scrm_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_rehashes_weak_hashes(client: Any) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    user = make_staff(Role.BRAND_ADMIN, username="hq.old")
    with db.transaction() as s:
        s.get(StaffUser, user.id).password_hash = weak  # type: ignore[union-attr]
    assert needs_rehash(weak)
    assert login(client, "hq.old").status_code == 303
    db.session.remove()
    new_hash = db.session.get(StaffUser, user.id).password_hash  # type: ignore[union-attr]
    assert new_hash != weak and not needs_rehash(new_hash)
    assert client.get("/admin/").status_code == 200  # the session survives its own rehash


def test_logout_is_a_post(client: Any) -> None:
    user = signed_in(client, Role.BRAND_ADMIN)
    assert client.get("/admin/logout").status_code == 405
    assert client.get("/admin/").status_code == 200
    resp = post(client, "/admin/logout")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/admin/login")
    assert client.get("/admin/").status_code == 302
    assert [r.staff_id for r in _audit("auth.logout")] == [user.id]


def test_next_only_follows_admin_paths(client: Any) -> None:
    make_staff(Role.BRAND_ADMIN, username="hq.next")
    token = csrf(client)
    for target in ("https://evil.example/admin/", "//evil.example/admin", "/sandbox/phone", "/admin\\\\evil"):
        resp = client.post("/admin/login", data={"username": "hq.next", "password": PASSWORD, "csrf_token": token,
                                                 "next": target})
        assert resp.headers["Location"] == "/admin/", target
        post(client, "/admin/logout")
        token = csrf(client)
    resp = client.post("/admin/login", data={"username": "hq.next", "password": PASSWORD, "csrf_token": token,
                                             "next": "/admin/keywords/?q=a"})
    assert resp.headers["Location"] == "/admin/keywords/?q=a"


def test_anonymous_requests_go_to_login(client: Any) -> None:
    resp = client.get("/admin/keywords/?q=x")
    assert resp.status_code == 302 and "/admin/login?next=/admin/keywords/?q%3Dx" in resp.headers["Location"]
    assert client.post("/admin/keywords/new", data={}).status_code in (303, 400)


def test_deactivation_ends_open_sessions(client: Any, app: Any) -> None:
    dealer = make_dealer()
    victim = make_staff(Role.DEALER_STAFF, dealer=dealer, username="d.staff")
    other = app.test_client()
    assert login(other, "d.staff").status_code == 303
    signed_in(client, Role.BRAND_ADMIN)
    assert post(client, f"/admin/staff/{victim.id}/deactivate").status_code == 303
    assert other.get("/admin/").status_code == 302


def test_password_reset_ends_other_sessions(client: Any, app: Any) -> None:
    dealer = make_dealer()
    target = make_staff(Role.DEALER_MANAGER, dealer=dealer, username="d.mgr")
    other = app.test_client()
    login(other, "d.mgr")
    signed_in(client, Role.BRAND_ADMIN)
    resp = post(client, f"/admin/staff/{target.id}/password", {"password": "a-brand-new-pass"})
    assert resp.status_code == 303
    assert other.get("/admin/").status_code == 302
    assert login(other, "d.mgr", "a-brand-new-pass").status_code == 303


def test_language_switch_is_remembered(client: Any) -> None:
    user = signed_in(client, Role.BRAND_ADMIN)
    assert "数据概览" in text(client.get("/admin/"))
    resp = post(client, "/admin/language", {"lang": "en", "next": "/admin/followers/"})
    assert resp.status_code == 303 and resp.headers["Location"] == "/admin/followers/"
    page = text(client.get("/admin/"))
    assert "Dashboard" in page and "数据概览" not in page
    db.session.remove()
    assert db.session.get(StaffUser, user.id).language == "en"  # type: ignore[union-attr]
    post(client, "/admin/logout")
    login(client, user.username)  # a new session starts in the stored language
    assert "Dashboard" in text(client.get("/admin/"))
    assert post(client, "/admin/language", {"lang": "fr"}).status_code == 303
    assert "Dashboard" in text(client.get("/admin/"))


def test_login_page_language_switch_without_account(client: Any) -> None:
    resp = client.post("/admin/language", data={"lang": "en", "csrf_token": csrf(client),
                                                 "next": "/admin/login"})
    assert resp.status_code == 303
    assert "Sign in" in text(client.get("/admin/login"))
