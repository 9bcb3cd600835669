"""The API's repair orders, bindings and per-key rate limit: auth, dealer scoping, per-item results, keyset
pagination, and 429 with Retry-After from the GCRA limiter in (real) Redis."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.db import utcnow
from scrm.models import AuditLog, Customer, CustomerBinding, RepairOrder, TimelineEntry, Vehicle
from tests.factories import make_dealer, make_follower
from tests.integration.api_support import auth, new_key
from tests.integration.customer_support import bind, make_customer, make_vehicle

pytestmark = pytest.mark.integration
URL = "/api/v1/repair-orders:batch"
VIN_A, VIN_B = "LSVAM4186C2184841", "LFV2A21K8A3000001"


def _post(client: Any, key: str, items: list[Any]) -> list[dict[str, Any]]:
    resp = client.post(URL, json={"repair_orders": items}, headers=auth(key))
    assert resp.status_code == 200, resp.get_json()
    results: list[dict[str, Any]] = resp.get_json()["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    return results


def _error(resp: Any, status: int, code: str) -> str:
    assert resp.status_code == status, resp.data[:300]
    body = resp.get_json()
    assert set(body) == {"error"} and body["error"]["code"] == code
    return str(body["error"]["message"])


def test_new_endpoints_need_a_key(client: Any) -> None:
    _error(client.post(URL, json={"repair_orders": []}), 401, "unauthorized")
    _error(client.get("/api/v1/bindings"), 401, "unauthorized")
    _error(client.get("/api/v1/bindings", headers=auth("scrm_abcdefgh_nope")), 401, "unauthorized")


def test_repair_orders_per_item_results_and_idempotency(client: Any) -> None:
    dealer, key, _ = new_key()
    owner = make_customer(dealer, external_id="C001", mobile="13812345678")
    car = make_vehicle(owner, vin=VIN_A, plate="沪A12345")
    items = [
        {"external_id": "RO1", "date": "2024-03-05", "type": "保养", "amount": "¥1,234.50", "mileage": 12000,
         "vin": VIN_A},
        {"external_id": "RO2", "date": "2024-04-01", "amount": 99.5, "customer_external_id": "C001"},
        {"external_id": "RO3", "date": "2024-04-02", "mobile": "13900000000"},         # nobody: rejected
        {"external_id": "RO4", "date": "2024-02-30", "amount": "-1", "vin": VIN_A, "shoe": 1},
        {"date": "2024-04-02", "vin": VIN_A},                                             # no order number
        "not an object",
    ]
    results = _post(client, key, items)
    assert [r["status"] for r in results] == ["created", "created", "rejected", "rejected", "rejected", "rejected"]
    assert results[0]["customer_id"] == owner.id and results[1]["customer_id"] == owner.id
    db.session.remove()
    ro1 = db.session.get_one(RepairOrder, results[0]["id"])
    assert (ro1.external_id, ro1.vehicle_id, str(ro1.amount), ro1.type) == ("RO1", car.id, "1234.50", "保养")
    assert "import the customer first" in results[2]["errors"][0]["message"]
    assert results[3]["errors"] == [{"field": "shoe", "message": "Unknown field."}]
    assert [e["field"] for e in results[4]["errors"]] == ["external_id"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 1      # never creates one
    assert db.session.get_one(Vehicle, car.id).last_service_mileage == 12000

    again = _post(client, key, items[:2])
    assert [r["status"] for r in again] == ["unchanged", "unchanged"]
    assert [r["id"] for r in again] == [r["id"] for r in results[:2]]
    changed = _post(client, key, [{**items[1], "amount": "100"}])
    assert changed[0]["status"] == "updated"
    db.session.remove()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TimelineEntry)
                             .where(TimelineEntry.kind == "service")) == 2
    audits = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "api.repair_orders_batch")
                                .order_by(AuditLog.id)).all()
    assert [(a.detail["created"], a.detail["rejected"], a.dealer_id) for a in audits] == \
        [(2, 4, dealer.id), (0, 0, dealer.id), (0, 0, dealer.id)]


def test_a_key_never_reaches_another_dealers_records(client: Any) -> None:
    dealer_a, key_a, _ = new_key()
    dealer_b = make_dealer()
    theirs = make_customer(dealer_b, external_id="C001", mobile="13812345678")
    make_vehicle(theirs, vin=VIN_B)
    ours = make_customer(dealer_a, external_id="A1")
    results = _post(client, key_a, [{"external_id": "X1", "date": "2024-01-01", "vin": VIN_B},
                                    {"external_id": "X2", "date": "2024-01-01", "customer_external_id": "C001"},
                                    {"external_id": "X3", "date": "2024-01-01", "mobile": "13812345678"}])
    assert [r["status"] for r in results] == ["rejected"] * 3
    bind(theirs, make_follower())
    bind(ours, mine := make_follower())
    page = client.get("/api/v1/bindings", headers=auth(key_a)).get_json()
    assert [(b["customer_id"], b["openid"]) for b in page["bindings"]] == [(ours.id, mine.openid)]
    db.session.remove()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RepairOrder)) == 0


def test_bindings_keyset_pagination_and_since(client: Any) -> None:
    dealer, key, _ = new_key()
    start = utcnow().replace(microsecond=0) - timedelta(days=10)
    made = []
    for n in range(5):
        customer = make_customer(dealer, external_id=f"C{n}" if n % 2 == 0 else None)
        binding = bind(customer, make_follower())
        with db.transaction() as s:
            row = s.get_one(CustomerBinding, binding.id)
            row.bound_at = start + timedelta(days=n // 2)      # pairs share a time: the id breaks the tie
            row.method = "qr" if n == 4 else "chat"
        made.append((binding.id, customer.id))
    seen, cursor, pages = [], None, 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        resp = client.get("/api/v1/bindings", query_string=params, headers=auth(key))
        assert resp.status_code == 200, resp.get_json()
        body = resp.get_json()
        pages += 1
        seen += body["bindings"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and [(b["id"], b["customer_id"]) for b in seen] == made
    assert seen[0]["customer_external_id"] == "C0" and seen[1]["customer_external_id"] is None
    assert seen[4]["method"] == "qr" and seen[0]["subscribed"] is True
    assert datetime.fromisoformat(seen[2]["bound_at"]) == start + timedelta(days=1)

    since = (start + timedelta(days=1)).isoformat()
    recent = client.get("/api/v1/bindings", query_string={"since": since}, headers=auth(key)).get_json()
    assert [b["id"] for b in recent["bindings"]] == [m[0] for m in made[2:]] and recent["next_cursor"] is None
    naive = client.get("/api/v1/bindings", query_string={"since": (start + timedelta(days=2)).replace(
        tzinfo=None).isoformat()}, headers=auth(key)).get_json()
    assert [b["id"] for b in naive["bindings"]] == [made[4][0]]
    for bad in ({"cursor": "nonsense!"}, {"since": "yesterday"}, {"limit": "0"}, {"limit": "501"},
                {"page": "2"}):
        _error(client.get("/api/v1/bindings", query_string=bad, headers=auth(key)), 422, "invalid_request")


def test_rate_limit_per_key_gives_429_with_retry_after(client: Any) -> None:
    dealer, key, _ = new_key()
    _, other_key, _ = new_key()
    make_customer(dealer, external_id="C001")
    statuses: list[int] = []
    limited = None
    for n in range(300):                                   # far more than the burst: the limit must bite
        resp = client.post(URL, json={"repair_orders": [{"external_id": f"R{n}", "date": "2024-01-01",
                                                         "customer_external_id": "C001"}]}, headers=auth(key))
        statuses.append(resp.status_code)
        if resp.status_code == 429:
            limited = resp
            break
    assert limited is not None and statuses[:20] == [200] * 20     # the burst of 20 first
    assert "Retry-After" in _error(limited, 429, "rate_limited")
    assert 1 <= int(limited.headers["Retry-After"]) <= 2
    db.session.remove()
    written = set(db.session.scalars(sa.select(RepairOrder.external_id)))
    assert len(written) == len(statuses) - 1 and f"R{len(statuses) - 1}" not in written   # the 429 did nothing
    assert client.get("/api/v1/bindings", headers=auth(other_key)).status_code == 200   # keys are separate
