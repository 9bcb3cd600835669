"""The audit page: filters by staff, action and date; scoped by dealer."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from scrm import db
from scrm.models import AuditLog, Role
from scrm.services import audit
from scrm.services.accounts import account_id
from tests.factories import make_dealer, make_staff
from tests.integration.admin_support import signed_in, text

pytestmark = pytest.mark.integration


def _entry(staff: Any, action: str, when: datetime, dealer_id: int | None = None, **detail: Any) -> None:
    with db.transaction() as s:
        s.add(AuditLog(account_id=account_id("demo"), staff_id=staff.id if staff else None,
                       dealer_id=dealer_id if dealer_id is not None else (staff.dealer_id if staff else None),
                       action=action, detail=detail, created_at=when))


def _actions(page: str) -> list[str]:
    return re.findall(r'<tr data-action="([^"]+)"', page)


def test_filters(client: Any) -> None:
    dealer = make_dealer()
    manager = make_staff(Role.DEALER_MANAGER, dealer=dealer, username="mgr.a")
    _entry(manager, "keyword.create", datetime(2025, 3, 1, 2, 0, tzinfo=UTC), keyword="甲")
    _entry(manager, "keyword.delete", datetime(2025, 3, 2, 2, 0, tzinfo=UTC))
    _entry(None, "menu.save", datetime(2025, 3, 3, 2, 0, tzinfo=UTC))
    admin = signed_in(client, Role.BRAND_ADMIN)
    assert _actions(text(client.get(f"/admin/audit/?staff={manager.id}"))) == ["keyword.delete", "keyword.create"]
    assert _actions(text(client.get("/admin/audit/?action=menu.save"))) == ["menu.save"]
    page = text(client.get("/admin/audit/?from=2025-03-02&to=2025-03-02"))
    assert _actions(page) == ["keyword.delete"]
    everything = text(client.get("/admin/audit/"))
    assert _actions(everything)[0] == "auth.login" and "登录" in everything and "新建关键词回复" in everything
    assert "keyword:</span> 甲" in everything
    assert _actions(text(client.get("/admin/audit/?action=bogus&from=notadate&staff=xyz")))  # bad filters ignored
    assert str(admin.id) in text(client.get("/admin/audit/"))


def test_dealer_manager_sees_their_dealer_only(client: Any) -> None:
    mine, other = make_dealer(), make_dealer()
    _entry(None, "keyword.update", datetime(2025, 3, 1, tzinfo=UTC), dealer_id=other.id, keyword="别人的")
    _entry(None, "keyword.update", datetime(2025, 3, 1, tzinfo=UTC), dealer_id=mine.id, keyword="自己的")
    _entry(None, "menu.save", datetime(2025, 3, 1, tzinfo=UTC))  # account-level: brand admins only
    signed_in(client, Role.DEALER_MANAGER, dealer=mine)
    page = text(client.get("/admin/audit/"))
    assert "自己的" in page and "别人的" not in page and _actions(page) == ["auth.login", "keyword.update"]


def test_record_trims_long_details(app_ctx: Any) -> None:
    with db.transaction() as s:
        audit.record(s, staff=None, action="keyword.delete", detail={"text": "x" * 5000}, account_id=account_id("demo"))
    row = db.session.query(AuditLog).one()
    assert len(row.detail["text"]) == 2001 and row.dealer_id is None and row.staff_id is None
