"""Segments in the admin: save, list in words, live count and sample (phones masked for staff without the
permission), scoping between dealers, CSRF on the JSON endpoints, audit rows and archiving."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, Role, Segment
from scrm.services import segments
from scrm.services.errors import Invalid
from scrm.services.scope import Scope
from tests.factories import make_dealer, make_follower, make_staff
from tests.integration.admin_support import csrf, login, post, signed_in, text
from tests.integration.customer_support import bind, make_customer, make_vehicle

pytestmark = pytest.mark.integration

SHANGHAI = {"match": "all", "rules": [{"field": "city", "op": "eq", "value": "上海"}]}


def _json(client: Any, path: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    headers = {"X-CSRFToken": token if token is not None else csrf(client, "/admin/")}
    return client.post(path, data=json.dumps(body or {}), content_type="application/json", headers=headers)


def _seg(segment_id: int) -> Segment:
    with db.transaction() as s:
        seg = s.get(Segment, segment_id, populate_existing=True)
        assert seg is not None
        return seg


def _world() -> dict[str, Any]:
    a, b = make_dealer(name="浦东店"), make_dealer(name="杭州店")
    fa, fb = make_follower(dealer_id=a.id), make_follower(dealer_id=a.id, opt_out_marketing=True)
    c1 = make_customer(a, name="张三", mobile="13812345678", city="上海", stage="owner", tags=["VIP"])
    c2 = make_customer(a, name="李四", mobile="13912345678", city="上海", stage="prospect")
    make_customer(a, name="王五", city="北京")
    make_customer(b, name="赵六", city="上海")
    make_vehicle(c1, model="Model Y", mileage=30000)
    bind(c1, fa)
    bind(c2, fb)
    return dict(a=a, b=b, c1=c1, c2=c2, fa=fa, fb=fb)


def _form(**kw: Any) -> dict[str, str]:
    values = {"name": "上海车主", "description": "上海的客户", "dealer_id": "",
              "definition": json.dumps(SHANGHAI, ensure_ascii=False)}
    values.update({k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v for k, v in kw.items()})
    return values


def test_manager_saves_counts_samples_and_archives(client: Any) -> None:
    w = _world()
    manager = signed_in(client, Role.DEALER_MANAGER, dealer=w["a"])
    assert "客户分群" in text(client.get("/admin/segments/"))            # the menu entry and the empty list
    bad = post(client, "/admin/segments/new", _form(definition={"match": "all", "rules": [
        {"field": "mileage", "op": "gte", "value": "many"}]}))
    assert bad.status_code == 422 and "请检查“行驶里程”的取值" in text(bad)
    assert post(client, "/admin/segments/new", _form(name="")).status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Segment)) == 0
    resp = post(client, "/admin/segments/new", _form(dealer_id=str(w["b"].id)))   # a manager's is always own dealer
    assert resp.status_code == 303
    seg_id = int(resp.headers["Location"].rstrip("/").split("/")[-1])
    seg = _seg(seg_id)
    assert seg.dealer_id == w["a"].id and seg.created_by == manager.id and seg.definition == SHANGHAI
    assert post(client, "/admin/segments/new", _form()).status_code == 422            # same name, same dealer

    page = text(client.get("/admin/segments/"))
    assert "上海车主" in page and "城市 是 上海" in page

    counts = _json(client, "/admin/segments/count", {"definition": SHANGHAI, "segment_id": seg_id}).get_json()
    assert counts == {"ok": True, "contacts": 2, "customers": 2, "followers": 2, "reachable": 1}
    assert _seg(seg_id).last_count == 2                       # the saved definition, unchanged: remembered
    wider = {"match": "any", "rules": [SHANGHAI, {"field": "city", "op": "eq", "value": "北京"}]}
    got = _json(client, "/admin/segments/count", {"definition": wider}).get_json()
    assert got["contacts"] == 3 and got["reachable"] == 1
    problem = _json(client, "/admin/segments/count", {"definition": {"match": "all", "rules": [
        {"field": "purchase_date", "op": "before", "value": "yesterday"}]}})
    assert problem.status_code == 422
    assert problem.get_json() == {"ok": False, "problem": "“购车日期”的日期请按 YYYY-MM-DD 格式填写。",
                                  "field": "purchase_date"}
    dealer_field = _json(client, "/admin/segments/count", {"definition": {"match": "all", "rules": [
        {"field": "dealer", "op": "in", "value": [w["b"].id]}]}})
    assert dealer_field.status_code == 422                     # brand-only field

    rows = _json(client, "/admin/segments/sample", {"definition": SHANGHAI}).get_json()["rows"]
    assert {r["name"] for r in rows} == {"张三", "李四"}
    zhang = next(r for r in rows if r["name"] == "张三")
    assert zhang["phone"] == "13812345678" and zhang["model"] == "Model Y" and zhang["bound"]
    assert zhang["url"] == f"/admin/customers/{w['c1'].id}" and zhang["stage"] == "车主"

    changed = post(client, f"/admin/segments/{seg_id}", _form(name="上海车主（改）"))
    assert changed.status_code == 303 and _seg(seg_id).name == "上海车主（改）"
    assert post(client, f"/admin/segments/{seg_id}/archive").status_code == 303
    assert _seg(seg_id).archived_at is not None
    assert client.get(f"/admin/segments/{seg_id}").status_code == 404
    assert "上海车主" not in text(client.get("/admin/segments/"))
    actions = list(db.session.scalars(sa.select(AuditLog.action).where(AuditLog.target_type == "segment")
                                      .order_by(AuditLog.id)))
    assert actions == ["segment.create", "segment.update", "segment.archive"]


def test_staff_without_the_phone_permission_see_masked_numbers(client: Any) -> None:
    w = _world()
    seg = segments.create(Scope.of(make_staff(Role.DEALER_MANAGER, dealer=w["a"])), name="上海", description="",
                          dealer_id=None, definition=SHANGHAI)
    signed_in(client, Role.DEALER_STAFF, dealer=w["a"])
    page = text(client.get(f"/admin/segments/{seg.id}"))
    assert "城市 是 上海" in page and "segment-form" not in page            # read-only for staff
    assert client.get("/admin/segments/new").status_code == 403
    assert _json(client, "/admin/segments/count", {"definition": SHANGHAI}).status_code == 403
    rows = _json(client, f"/admin/segments/{seg.id}/sample").get_json()["rows"]
    assert sorted(r["phone"] for r in rows) == ["138****5678", "139****5678"]
    assert _json(client, f"/admin/segments/{seg.id}/count").get_json()["contacts"] == 2
    assert _seg(seg.id).last_count == 2


def test_a_manager_cannot_reach_another_dealers_segment(client: Any) -> None:
    w = _world()
    admin = Scope.of(make_staff(Role.BRAND_ADMIN))
    theirs = segments.create(admin, name="杭州", description="", dealer_id=w["b"].id, definition=SHANGHAI)
    shared = segments.create(admin, name="全国", description="", dealer_id=None, definition=SHANGHAI)
    signed_in(client, Role.DEALER_MANAGER, dealer=w["a"])
    assert client.get(f"/admin/segments/{theirs.id}").status_code == 404
    assert post(client, f"/admin/segments/{theirs.id}", _form()).status_code == 404
    assert post(client, f"/admin/segments/{theirs.id}/archive").status_code == 404
    assert _json(client, f"/admin/segments/{theirs.id}/count").status_code == 404
    assert _json(client, f"/admin/segments/{theirs.id}/sample").status_code == 404
    page = text(client.get("/admin/segments/"))
    assert "全国" in page and "杭州" not in page
    assert "segment-form" not in text(client.get(f"/admin/segments/{shared.id}"))   # account-wide: view only
    assert post(client, f"/admin/segments/{shared.id}/archive").status_code == 404
    counted = _json(client, f"/admin/segments/{shared.id}/count").get_json()
    assert counted["contacts"] == 2                            # narrowed to the manager's dealer (b's 赵六 left out)
    assert _seg(shared.id).last_count is None                  # a narrowed count is not the segment's count
    with pytest.raises(Invalid):
        segments.create(Scope.of(make_staff(Role.DEALER_MANAGER, dealer=w["a"])), name="x", description="",
                        dealer_id=None, definition={"match": "all", "rules": []})


def test_brand_admin_account_wide_segment_and_dealer_field(client: Any) -> None:
    w = _world()
    signed_in(client)
    definition = {"match": "all", "rules": [SHANGHAI, {"field": "dealer", "op": "in", "value": [str(w["b"].id)]}]}
    got = _json(client, "/admin/segments/count", {"definition": definition}).get_json()
    assert got["contacts"] == 1 and got["followers"] == 0
    resp = post(client, "/admin/segments/new", _form(name="全账号上海", definition=SHANGHAI))
    seg = _seg(int(resp.headers["Location"].rstrip("/").split("/")[-1]))
    assert seg.dealer_id is None
    assert _json(client, f"/admin/segments/{seg.id}/count").get_json()["contacts"] == 3
    assert _seg(seg.id).last_count == 3
    page = text(client.get(f"/admin/segments/{seg.id}"))
    assert 'id="segment-form"' in page and 'id="segment-choices"' in page
    choices = json.loads(page.split('id="segment-choices">')[1].split("</script>")[0])
    assert "VIP" in choices["tags"] and "Model Y" in choices["models"] and "上海" in choices["cities"]
    assert {f["key"] for f in choices["fields"]} >= {"dealer", "city", "events_attended"}
    assert next(v["label"] for v in choices["values"]["stage"]) == "线索"


def test_json_endpoints_need_the_csrf_token(client: Any) -> None:
    _world()
    user = make_staff(Role.BRAND_ADMIN)
    login(client, user.username)
    resp = _json(client, "/admin/segments/count", {"definition": SHANGHAI}, token="nope")
    assert resp.status_code == 400
    assert _json(client, "/admin/segments/count", {"definition": SHANGHAI}).status_code == 200
    no_token = client.post("/admin/segments/new", data=_form())
    assert no_token.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Segment)) == 0
