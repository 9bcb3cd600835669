"""The dealer-system API: bearer keys, batch upserts with per-item results, reading, dealer isolation."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from scrm import db
from scrm.models import ApiKey, AuditLog, Customer, TimelineEntry, Vehicle
from scrm.services.api_customers import parse_item
from tests.integration.api_support import auth, new_key

URL = "/api/v1/customers:batch"
VIN_A, VIN_B = "LSVAM4186C2184841", "LFV2A21K8A3000001"


def _batch(client: Any, key: str, items: list[Any]) -> list[dict[str, Any]]:
    resp = client.post(URL, json={"customers": items}, headers=auth(key))
    assert resp.status_code == 200, resp.get_json()
    results: list[dict[str, Any]] = resp.get_json()["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    return results


def _assert_error(resp: Any, status: int, code: str) -> str:
    assert resp.status_code == status, resp.data[:300]
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"]
    return str(body["error"]["message"])


def test_missing_invalid_and_revoked_keys_get_401(client: Any) -> None:
    _, key, key_id = new_key()
    message = _assert_error(client.post(URL, json={"customers": []}), 401, "unauthorized")
    assert "Authorization: Bearer" in message
    assert client.get("/api/v1/customers/1").headers["WWW-Authenticate"].startswith("Bearer")
    _assert_error(client.post(URL, json={"customers": []}, headers={"Authorization": f"Basic {key}"}), 401,
                  "unauthorized")
    forged = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")
    assert "not valid" in _assert_error(client.post(URL, json={"customers": []}, headers=auth(forged)), 401,
                                        "unauthorized")
    _assert_error(client.post(URL, json={"customers": []}, headers=auth("scrm_nope")), 401, "unauthorized")
    assert client.post(URL, json={"customers": []}, headers=auth(key)).status_code == 200

    from scrm.models import Role
    from scrm.services import api_keys
    from scrm.services.scope import Scope
    from tests.factories import make_staff

    admin = make_staff(role=Role.BRAND_ADMIN)
    api_keys.revoke_key(admin, Scope.of(admin), key_id)
    assert "revoked" in _assert_error(client.post(URL, json={"customers": []}, headers=auth(key)), 401,
                                      "unauthorized")


def test_key_is_stored_only_as_a_hash_and_last_use_is_recorded(client: Any) -> None:
    _, key, key_id = new_key()
    row = db.session.get(ApiKey, key_id)
    assert row is not None and row.last_used_at is None
    assert key.startswith(f"scrm_{row.prefix}_") and len(row.prefix) == 8
    assert row.key_hash != key and key.split("_", 2)[2] not in row.key_hash
    client.post(URL, json={"customers": []}, headers=auth(key))
    db.session.expire_all()
    first = db.session.get(ApiKey, key_id).last_used_at  # type: ignore[union-attr]
    assert first is not None
    client.post(URL, json={"customers": []}, headers=auth(key))
    db.session.expire_all()
    assert db.session.get(ApiKey, key_id).last_used_at == first  # type: ignore[union-attr]  # once a minute


def test_batch_reports_each_item_and_is_idempotent(client: Any) -> None:
    dealer, key, key_id = new_key()
    items: list[Any] = [
        {"external_id": "C001", "name": "张伟", "mobile": "+86 138-1234-5678", "gender": "男",
         "vehicles": [{"vin": VIN_A, "plate": "沪A·12345", "model": "帕萨特", "mileage": 12345}]},
        {"name": "李娜", "mobile": "13987654321", "stage": "owner"},
        {"name": "王五", "mobile": "12345", "vehicles": [{"vin": "LSVAM4186C2184842", "mileage": -5}]},
        {"name": "赵六", "colour": "red"},
        "not an object",
        {"name": "孙七", "mobile": "13700000000", "vehicles": [{"model": "ID.4"}]},
        {"name": "周\udb24", "mobile": "13700000001", "vehicles": [{"plate": "沪A11111", "mileage": 1e300}]},
    ]
    results = _batch(client, key, items)
    assert [r["status"] for r in results] == ["created", "created"] + ["rejected"] * 5
    assert results[0]["errors"] == [] and isinstance(results[0]["id"], int)
    fields = {e["field"] for e in results[2]["errors"]}
    assert {"mobile", "vehicles[0].vin", "vehicles[0].mileage"} <= fields
    assert all(e["message"] for e in results[2]["errors"])
    assert results[3]["errors"] == [{"field": "colour", "message": "Unknown field."}]
    assert results[4]["errors"][0]["message"] == "Each item must be a JSON object."
    assert "VIN or a plate" in results[5]["errors"][0]["message"]
    assert "id" not in results[2]
    assert [e["field"] for e in results[6]["errors"]] == ["name"]  # half a surrogate pair never reaches the DB
    huge = parse_item({"name": "周", "vehicles": [{"plate": "沪A11111", "mileage": 1e300}]})[1]
    assert [e["field"] for e in huge] == ["vehicles[0].mileage"] and "2,000,000" in huge[0]["message"]
    zhang = db.session.get(Customer, results[0]["id"])
    assert zhang is not None and zhang.mobile == "13812345678" and zhang.dealer_id == dealer.id
    car = db.session.scalars(sa.select(Vehicle).where(Vehicle.vin == VIN_A)).one()
    assert car.customer_id == zhang.id and car.plate == "沪A12345" and car.mileage == 12345
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 2  # rejected items wrote nothing
    entry = db.session.scalars(sa.select(TimelineEntry).where(TimelineEntry.customer_id == zhang.id)).one()
    assert entry.kind == "api.created" and entry.title == "Created by the dealer system"

    again = _batch(client, key, items[:2])
    assert [r["status"] for r in again] == ["unchanged", "unchanged"]
    assert [r["id"] for r in again] == [results[0]["id"], results[1]["id"]]

    changed = _batch(client, key, [
        {"external_id": "C001", "city": "上海", "vehicles": [{"vin": VIN_A, "mileage": 20000}]},
        {"mobile": "13987654321", "name": "李娜", "vehicles": [{"vin": VIN_A}]},
    ])
    assert changed[0]["status"] == "updated" and changed[0]["id"] == results[0]["id"]
    assert changed[1]["status"] == "rejected"
    assert changed[1]["errors"][0]["field"] == "vehicles[0].vin" and VIN_A in changed[1]["errors"][0]["message"]
    db.session.expire_all()
    assert db.session.get(Customer, results[0]["id"]).city == "上海"  # type: ignore[union-attr]
    assert db.session.get(Vehicle, car.id).mileage == 20000  # type: ignore[union-attr]
    li = db.session.get(Customer, results[1]["id"])
    assert li is not None and db.session.scalars(sa.select(Vehicle).where(Vehicle.customer_id == li.id)).all() == []

    logs = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "api.customers_batch")
                              .order_by(AuditLog.id)).all()
    assert len(logs) == 3 and all(log.detail["api_key_id"] == key_id for log in logs)
    assert logs[0].dealer_id == dealer.id and logs[0].detail["created"] == 2 and logs[0].detail["rejected"] == 5
    assert logs[2].detail["updated"] == 1 and logs[2].target_id == str(key_id)


def test_get_customer_returns_it_with_vehicles(client: Any) -> None:
    _, key, _ = new_key()
    [result] = _batch(client, key, [{"external_id": "C9", "name": "周八", "mobile": "13811112222",
                                     "birthday": "1990/5/6", "vehicles": [{"vin": VIN_B, "plate": "粤B12345"}]}])
    resp = client.get(f"/api/v1/customers/{result['id']}", headers=auth(key))
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["name"] == "周八" and body["birthday"] == "1990-05-06" and body["stage"] == "lead"
    assert [(v["vin"], v["plate"]) for v in body["vehicles"]] == [(VIN_B, "粤B12345")]
    _assert_error(client.get("/api/v1/customers/999999", headers=auth(key)), 404, "not_found")
    _assert_error(client.get("/api/v1/customers/99999999999999999999", headers=auth(key)), 404, "not_found")
    _assert_error(client.get("/api/v1/nothing-here", headers=auth(key)), 404, "not_found")


def test_a_key_never_sees_or_changes_another_dealers_customers(client: Any) -> None:
    _, key_a, _ = new_key()
    dealer_b, key_b, _ = new_key()
    [b] = _batch(client, key_b, [{"external_id": "C1", "name": "钱九", "mobile": "13800001111",
                                  "vehicles": [{"vin": VIN_A}]}])
    _assert_error(client.get(f"/api/v1/customers/{b['id']}", headers=auth(key_a)), 404, "not_found")
    # The same customer number, mobile and VIN under dealer A make a separate record of dealer A.
    [a] = _batch(client, key_a, [{"external_id": "C1", "name": "钱九改", "mobile": "13800001111",
                                  "vehicles": [{"vin": VIN_A, "plate": "京A00001"}]}])
    assert a["status"] == "created" and a["id"] != b["id"]
    db.session.expire_all()
    theirs = db.session.get(Customer, b["id"])
    assert theirs is not None and theirs.name == "钱九" and theirs.dealer_id == dealer_b.id
    their_car = db.session.scalars(sa.select(Vehicle).where(Vehicle.customer_id == b["id"])).one()
    assert their_car.plate is None


def test_bad_bodies_get_json_errors(client: Any) -> None:
    _, key, _ = new_key()
    _assert_error(client.post(URL, data="customers", headers=auth(key)), 415, "unsupported_media_type")
    _assert_error(client.post(URL, data="{nope", content_type="application/json", headers=auth(key)), 400,
                  "bad_request")
    _assert_error(client.post(URL, json=[1, 2], headers=auth(key)), 422, "invalid_request")
    _assert_error(client.post(URL, json={"customers": [], "x": 1}, headers=auth(key)), 422, "invalid_request")
    _assert_error(client.post(URL, json={"customers": [{}] * 1001}, headers=auth(key)), 422, "too_many_items")
    big = {"customers": [{"name": "x" * 2000, "city": "y" * 2000}] * 1000}  # about 4 MB
    _assert_error(client.post(URL, json=big, headers=auth(key)), 413, "payload_too_large")
    _assert_error(client.get(URL, headers=auth(key)), 405, "method_not_allowed")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0


def test_api_needs_no_csrf_token_and_sets_no_cookie(client: Any) -> None:
    _, key, _ = new_key()
    resp = client.post(URL, json={"customers": [{"name": "吴十", "mobile": "13800002222"}]}, headers=auth(key))
    assert resp.status_code == 200 and resp.get_json()["results"][0]["status"] == "created"
    assert "Set-Cookie" not in resp.headers and resp.headers["Cache-Control"] == "no-store"
