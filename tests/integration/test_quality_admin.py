"""The data quality pages: report with before/after, pair list, compare (masked for staff), merge,
dismiss, history with unmerge, the 360 panel, and dealer isolation on every route."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, Customer, DuplicatePair, MergeRecord, PairStatus, QualitySnapshot, Role
from scrm.services import duplicates, merge
from tests.factories import make_dealer, make_staff
from tests.integration.admin_support import post, signed_in, text
from tests.integration.customer_support import make_customer, make_vehicle

pytestmark = pytest.mark.integration


@pytest.fixture
def world(app: Any) -> dict[str, Any]:
    a, b = make_dealer(code="QA", name="甲店"), make_dealer(code="QB", name="乙店")
    zhang = make_customer(a, name="张伟", mobile="13812345678", birthday=date(1980, 1, 2))
    make_vehicle(zhang, plate="沪A12345")
    zhang2 = make_customer(a, name="章伟", mobile="13912345670")
    make_vehicle(zhang2, plate="沪A12345", model="帕萨特")
    make_customer(a, name="李娜", mobile="1391234567")  # a bad mobile (10 digits) for the validity figure
    other = make_customer(b, name="王芳", mobile="13700000001", birthday=date(1990, 1, 1))
    other2 = make_customer(b, name="王芳", mobile="13700000002", birthday=date(1990, 1, 1))
    duplicates.detect(a.id)
    duplicates.detect(b.id)
    db.session.remove()
    pa = db.session.scalar(sa.select(DuplicatePair).where(DuplicatePair.dealer_id == a.id))
    pb = db.session.scalar(sa.select(DuplicatePair).where(DuplicatePair.dealer_id == b.id))
    assert pa is not None and pb is not None
    return dict(a=a, b=b, zhang=zhang, zhang2=zhang2, other=other, other2=other2, pa=pa, pb=pb)


def test_report_figures_and_before_after(client: Any, world: dict[str, Any]) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=world["a"])
    html = text(client.get("/admin/quality/"))
    assert "数据质量" in html
    mobile = re.search(r'data-field="customer.mobile">.*?</tr>', html, re.S)
    assert mobile and "100.0%" in mobile.group(0) and "66.7%" in mobile.group(0)  # all filled, 2 of 3 valid
    dup = re.search(r'data-share="duplicates">.*?</tr>', html, re.S)
    assert dup and "66.7%" in dup.group(0)
    resp = post(client, "/admin/quality/snapshot", {"label": "清洗前"})
    assert resp.status_code == 303
    snap = db.session.scalar(sa.select(QualitySnapshot))
    assert snap is not None and snap.label == "清洗前" and snap.figures["shares"]["duplicates"] == 2
    post(client, f"/admin/quality/pairs/{world['pa'].id}/merge", {"survivor": world["zhang"].id})
    html = text(client.get("/admin/quality/", query_string={"against": snap.id}))
    dup = re.search(r'data-share="duplicates">.*?</tr>', html, re.S)
    assert dup and "0.0%" in dup.group(0) and "-66.7" in dup.group(0)  # the delta after the clean-up


def test_pairs_list_and_compare_masks_mobiles_for_staff(client: Any, world: dict[str, Any]) -> None:
    signed_in(client, Role.DEALER_STAFF, dealer=world["a"])
    html = text(client.get("/admin/quality/pairs"))
    assert f'data-pair="{world["pa"].id}"' in html and "王芳" not in html
    assert "138****5678" in html and "13812345678" not in html
    assert "立即查重" not in html  # staff cannot run detection or merge
    html = text(client.get(f"/admin/quality/pairs/{world['pa'].id}"))
    assert "138****5678" in html and "139****5670" in html
    assert "13812345678" not in html and "13912345670" not in html
    assert 'name="survivor"' not in html and "沪A12345" in html and "帕萨特" in html
    assert post(client, f"/admin/quality/pairs/{world['pa'].id}/merge").status_code == 403
    assert post(client, f"/admin/quality/pairs/{world['pa'].id}/dismiss").status_code == 403


def test_manager_sees_whole_mobiles_and_merges(client: Any, world: dict[str, Any]) -> None:
    manager = signed_in(client, Role.DEALER_MANAGER, dealer=world["a"])
    html = text(client.get(f"/admin/quality/pairs/{world['pa'].id}"))
    assert "13812345678" in html and 'name="survivor"' in html
    resp = post(client, f"/admin/quality/pairs/{world['pa'].id}/merge", {"survivor": world["zhang2"].id})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/admin/customers/{world['zhang2'].id}")
    db.session.remove()
    assert db.session.get(Customer, world["zhang"].id).merged_into_id == world["zhang2"].id  # type: ignore[union-attr]
    page = text(client.get(f"/admin/customers/{world['zhang2'].id}"))
    assert "合并与疑似重复" in page and "撤销合并" in page and "与另一条客户记录合并" in page
    assert f"客户 #{world['zhang'].id}（张伟）已合并到本记录" in page
    record = db.session.scalar(sa.select(MergeRecord))
    assert record is not None and record.staff_id == manager.id
    history = text(client.get("/admin/quality/merges"))
    assert f'data-merge="{record.id}"' in history
    resp = post(client, f"/admin/quality/merges/{record.id}/unmerge",
                {"next": f"/admin/customers/{world['zhang2'].id}"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/admin/customers/{world['zhang2'].id}")
    db.session.remove()
    assert db.session.get(Customer, world["zhang"].id).merged_into_id is None  # type: ignore[union-attr]
    assert db.session.get(DuplicatePair, world["pa"].id).status == PairStatus.OPEN  # type: ignore[union-attr]
    actions = set(db.session.scalars(sa.select(AuditLog.action)))
    assert {"customer.merge", "customer.unmerge"} <= actions


def test_dismiss_and_detect_now(client: Any, world: dict[str, Any]) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=world["a"])
    assert post(client, f"/admin/quality/pairs/{world['pa'].id}/dismiss").status_code == 303
    resp = post(client, "/admin/quality/detect", follow=True)
    assert "查重完成" in text(resp)
    db.session.remove()
    assert db.session.get(DuplicatePair, world["pa"].id).status == PairStatus.DISMISSED  # type: ignore[union-attr]
    assert {"quality.dismiss", "quality.detect"} <= set(db.session.scalars(sa.select(AuditLog.action)))
    assert "没有待处理的疑似重复" in text(client.get("/admin/quality/pairs"))


def test_dealer_isolation_on_every_route(client: Any, world: dict[str, Any]) -> None:
    signed_in(client, Role.DEALER_MANAGER, dealer=world["a"])
    pb = world["pb"].id
    merged = merge.merge_customers(make_staff(role=Role.BRAND_ADMIN), world["other"].id, world["other2"].id)
    assert client.get(f"/admin/quality/pairs/{pb}").status_code == 404
    assert post(client, f"/admin/quality/pairs/{pb}/merge").status_code == 404
    assert post(client, f"/admin/quality/pairs/{pb}/dismiss").status_code == 404
    assert post(client, f"/admin/quality/merges/{merged.id}/unmerge").status_code == 404
    # ?dealer= is ignored for dealer roles: they only ever see their own dealer
    html = text(client.get("/admin/quality/pairs", query_string={"dealer": world["b"].id}))
    assert "王芳" not in html
    assert f'data-merge="{merged.id}"' not in text(client.get("/admin/quality/merges"))
    db.session.remove()
    assert db.session.get(Customer, world["other2"].id).merged_into_id == world["other"].id  # type: ignore[union-attr]


def test_brand_admin_chooses_the_dealer(client: Any, world: dict[str, Any]) -> None:
    signed_in(client, Role.BRAND_ADMIN)
    html = text(client.get("/admin/quality/pairs", query_string={"dealer": world["b"].id}))
    assert "王芳" in html and "张伟" not in html
    assert client.get("/admin/quality/", query_string={"dealer": 999999}).status_code == 404
    assert "乙店" in text(client.get("/admin/quality/", query_string={"dealer": world["b"].id}))
