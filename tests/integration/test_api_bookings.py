"""GET /api/v1/bookings: auth, dealer scoping, filters, keyset pages, and the item's fields."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import Booking, Role
from scrm.services import booking, booking_status
from tests.factories import make_follower, make_staff
from tests.integration.api_support import auth, new_key
from tests.integration.booking_support import at, day_ahead, make_shop, request
from tests.integration.customer_support import make_customer, make_vehicle

pytestmark = pytest.mark.integration


def _get(client: Any, key: str, **params: Any) -> Any:
    return client.get("/api/v1/bookings", query_string=params, headers=auth(key))


def _ids(resp: Any) -> list[int]:
    assert resp.status_code == 200, resp.get_json()
    return [b["id"] for b in resp.get_json()["bookings"]]


@pytest.fixture
def shop_key(client: Any) -> dict[str, Any]:
    """A booking shop, a key for its dealer, and three bookings on two days (one of them a test drive)."""
    shop = make_shop()
    _, key, _ = new_key(shop.dealer)
    c = make_customer(shop.dealer, name="李四", mobile="13900008888", external_id="DMS-42")
    v = make_vehicle(c, vin="LSVAU2180N2183294", plate="沪A12345")
    f = make_follower()
    b1 = booking.book(request(shop, shop.maintenance, at(9), customer_id=c.id, vehicle_id=v.id, follower_id=f.id,
                              contact_name="李四", contact_mobile="13900008888"))
    b2 = booking.book(request(shop, shop.test_drive, at(14), demo_model="极氪007", licence_confirmed=True,
                              contact_name="赵六", contact_mobile="13700001111"))
    b3 = booking.book(request(shop, shop.repair, at(10, days=5), contact_mobile="13600002222"))
    return {"client": client, "shop": shop, "key": key, "ids": [b1.id, b2.id, b3.id], "customer": c.id,
            "vehicle": v.id}


def test_needs_a_key(client: Any) -> None:
    assert client.get("/api/v1/bookings").status_code == 401
    resp = client.get("/api/v1/bookings", headers=auth("scrm_abcdefgh_nope"))
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthorized"


def test_items_carry_everything_the_dealer_system_needs(shop_key: dict[str, Any]) -> None:
    resp = _get(shop_key["client"], shop_key["key"])
    body = resp.get_json()
    assert [b["id"] for b in body["bookings"]] == shop_key["ids"] and body["next_cursor"] is None
    first, drive = body["bookings"][0], body["bookings"][1]
    assert first["status"] == "confirmed" and first["source"] == "staff"
    assert first["service"] == {"code": "MAINT", "name": "保养", "kind": "maintenance"}
    assert first["start_at"] == at(9).astimezone(UTC).isoformat()
    assert first["end_at"] == (at(9) + timedelta(hours=1)).astimezone(UTC).isoformat()
    assert first["start_local"] == at(9).isoformat() and first["timezone"] == "Asia/Shanghai"
    assert first["customer"] == {"id": shop_key["customer"], "external_id": "DMS-42"}
    assert first["vehicle"] == {"id": shop_key["vehicle"], "vin": "LSVAU2180N2183294", "plate": "沪A12345"}
    assert (first["contact_name"], first["contact_mobile"]) == ("李四", "13900008888")    # whole, not masked
    assert first["demo_car"] is None and first["satisfaction"] is None
    assert drive["demo_car"]["model"] == "极氪007" and drive["customer"] is None and drive["vehicle"] is None


def test_filters(shop_key: dict[str, Any]) -> None:
    client, key, (b1, b2, b3) = shop_key["client"], shop_key["key"], shop_key["ids"]
    day = day_ahead(3).isoformat()
    assert _ids(_get(client, key, **{"from": day, "to": day})) == [b1, b2]          # a local day, whole
    assert _ids(_get(client, key, **{"from": day_ahead(4).isoformat()})) == [b3]
    assert _ids(_get(client, key, to=at(14).astimezone(UTC).isoformat())) == [b1]  # `to` is exclusive
    staff = make_staff(role=Role.DEALER_STAFF, dealer=shop_key["shop"].dealer)
    booking_status.cancel(b2, staff=staff)
    assert _ids(_get(client, key, status="cancelled")) == [b2]
    assert _ids(_get(client, key, status="confirmed,cancelled")) == [b1, b2, b3]
    with db.transaction() as s:   # changed long ago, except the cancelled one (updated just now)
        s.execute(sa.update(Booking).where(Booking.id != b2).values(updated_at=db.utcnow() - timedelta(days=2)))
    since = (db.utcnow() - timedelta(hours=1)).isoformat()
    assert _ids(_get(client, key, updated_since=since)) == [b2]
    naive = (db.utcnow() - timedelta(days=3)).replace(tzinfo=None).isoformat()     # UTC when no offset
    assert _ids(_get(client, key, updated_since=naive)) == [b1, b2, b3]


def test_bad_parameters_are_422(shop_key: dict[str, Any]) -> None:
    client, key = shop_key["client"], shop_key["key"]
    for bad in ({"from": "tomorrow"}, {"to": "2024-13-01"}, {"status": "done"}, {"updated_since": "yesterday"},
                {"cursor": "not-a-cursor"}, {"limit": "0"}, {"limit": "501"}, {"limit": "ten"}, {"page": "2"}):
        resp = _get(client, key, **bad)
        assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "invalid_request", bad


def test_keyset_pages(shop_key: dict[str, Any]) -> None:
    client, key = shop_key["client"], shop_key["key"]
    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = _get(client, key, **params).get_json()
        assert len(page["bookings"]) <= 2
        seen += [b["id"] for b in page["bookings"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == shop_key["ids"]


def test_another_dealers_key_sees_nothing_of_this_dealer(shop_key: dict[str, Any]) -> None:
    other_shop = make_shop()
    _, other_key, _ = new_key(other_shop.dealer)
    assert _ids(_get(shop_key["client"], other_key)) == []
    mine = booking.book(request(other_shop, other_shop.repair, at(9), contact_mobile="13500003333"))
    assert _ids(_get(shop_key["client"], other_key)) == [mine.id]
    assert mine.id not in _ids(_get(shop_key["client"], shop_key["key"]))


def test_satisfaction_shows_after_rating(shop_key: dict[str, Any]) -> None:
    b1 = shop_key["ids"][0]
    staff = make_staff(role=Role.DEALER_STAFF, dealer=shop_key["shop"].dealer)
    booking_status.complete(b1, staff)
    booking_status.rate(b1, 4, staff=staff)
    [item] = [b for b in _get(shop_key["client"], shop_key["key"]).get_json()["bookings"] if b["id"] == b1]
    assert item["status"] == "completed" and item["satisfaction"] == 4 and item["completed_at"]


@pytest.mark.parametrize("positive", [True, False])
def test_list_bookings_matches_the_openapi_document(shop_key: dict[str, Any], app: Any, positive: bool) -> None:
    """Schemathesis on this operation alone (with bookings to list): no 5xx, documented statuses and bodies."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode
    from schemathesis.checks import (
        content_type_conformance,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [r.ok() for r in schema.get_all_operations()]  # type: ignore[union-attr]
    [operation] = [op for op in operations if op.path == "/api/v1/bookings"]
    mode = GenerationMode.POSITIVE if positive else GenerationMode.NEGATIVE
    checks = ([not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
              if positive else [not_a_server_error, content_type_conformance])

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def run(case: Any) -> None:
        rt = runtime.get()   # the limiter has its own tests: here every generated request is served
        for name in rt.redis.scan_iter(match=rt.key("rate", "api:*")):
            rt.redis.delete(name)
        case.call_and_validate(headers=auth(shop_key["key"]), checks=checks)

    run()
