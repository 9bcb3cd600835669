"""设置 › API 密钥: create (secret shown once), list, revoke; scoped to the staff member's dealer, audited."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from scrm import db
from scrm.models import ApiKey, AuditLog, Role
from tests.factories import make_dealer
from tests.integration.admin_support import post, signed_in, text
from tests.integration.api_support import auth, new_key

KEY = re.compile(r'id="new-key-value">(scrm_[a-z0-9]{8}_[A-Za-z0-9_-]+)<')


def test_brand_admin_creates_a_key_that_works_and_is_shown_once(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    dealer = make_dealer()
    page = client.get("/admin/api-keys/")
    assert page.status_code == 200 and "API 密钥" in text(page)
    resp = post(client, "/admin/api-keys/", {"dealer_id": str(dealer.id), "name": "天河店 DMS"})
    assert resp.status_code == 200
    match = KEY.search(text(resp))
    assert match, text(resp)[:2000]
    key = match.group(1)
    row = db.session.scalars(sa.select(ApiKey)).one()
    assert row.dealer_id == dealer.id and row.name == "天河店 DMS" and key.startswith(f"scrm_{row.prefix}_")
    listing = text(client.get("/admin/api-keys/"))
    assert f"scrm_{row.prefix}_…" in listing and key not in listing
    assert client.post("/api/v1/customers:batch", json={"customers": []}, headers=auth(key)).status_code == 200
    log = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "api_key.create")).one()
    assert log.target_id == str(row.id) and log.dealer_id == dealer.id and key not in str(log.detail)


def test_create_needs_a_name_and_changes_nothing_without_one(client: Any) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    dealer = make_dealer()
    resp = post(client, "/admin/api-keys/", {"dealer_id": str(dealer.id), "name": "  "})
    assert resp.status_code == 422 and "请给密钥起个名字" in text(resp)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiKey)) == 0


def test_dealer_manager_manages_only_their_own_dealers_keys(client: Any) -> None:
    mine, other = make_dealer(), make_dealer()
    _, other_key, other_id = new_key(other, "B 的 DMS")
    signed_in(client, Role.DEALER_MANAGER, dealer=mine)
    listing = text(client.get("/admin/api-keys/"))
    assert "B 的 DMS" not in listing
    # The dealer field is ignored for a dealer role: the key is always for the manager's own dealer.
    resp = post(client, "/admin/api-keys/", {"dealer_id": str(other.id), "name": "我的 DMS"})
    assert resp.status_code == 200
    assert db.session.scalars(sa.select(ApiKey).where(ApiKey.name == "我的 DMS")).one().dealer_id == mine.id
    assert post(client, f"/admin/api-keys/{other_id}/revoke").status_code == 404
    db.session.expire_all()
    assert db.session.get(ApiKey, other_id).revoked_at is None  # type: ignore[union-attr]
    assert client.post("/api/v1/customers:batch", json={"customers": []}, headers=auth(other_key)).status_code == 200


def test_revoke_is_audited_and_refuses_the_key(client: Any) -> None:
    dealer = make_dealer()
    _, key, key_id = new_key(dealer)
    signed_in(client, Role.DEALER_MANAGER, dealer=dealer)
    resp = post(client, f"/admin/api-keys/{key_id}/revoke", follow=True)
    assert resp.status_code == 200 and "已吊销" in text(resp)
    assert client.post("/api/v1/customers:batch", json={"customers": []}, headers=auth(key)).status_code == 401
    log = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "api_key.revoke")).one()
    assert log.target_id == str(key_id) and log.dealer_id == dealer.id


def test_dealer_staff_cannot_open_the_page(client: Any) -> None:
    signed_in(client, Role.DEALER_STAFF)
    assert client.get("/admin/api-keys/").status_code == 403
    assert "API 密钥" not in text(client.get("/admin/"))
