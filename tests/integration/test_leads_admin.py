"""The best-leads page: scoping, permission, invitations (once per 14 days, only in the 48-hour window),
tasks made once, staff editing a prospect's intent, and the CSV export."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.db import utcnow
from scrm.models import (
    AuditLog,
    BuyTimeline,
    Channel,
    Delivery,
    Follower,
    LeadIntent,
    LeadScore,
    Role,
    Task,
    TaskRule,
)
from scrm.services import lead_scoring
from scrm.services.accounts import account_id
from tests.factories import make_follower
from tests.integration.admin_support import post, signed_in, text
from tests.integration.booking_support import make_shop
from tests.integration.customer_support import bind, make_customer

pytestmark = pytest.mark.integration


def _score() -> None:
    with db.transaction() as s:
        lead_scoring.score_all(s, account_id("demo"), utcnow())


def _world() -> tuple[Any, Follower, Follower]:
    a, b = make_shop(), make_shop()
    fa = make_follower(dealer_id=a.dealer.id, remark="王先生")
    fb = make_follower(dealer_id=b.dealer.id, remark="李女士")
    _score()
    return a, fa, fb


def _deliveries(follower_id: int) -> list[Delivery]:
    return list(db.session.scalars(sa.select(Delivery).where(Delivery.follower_id == follower_id)))


def test_a_manager_sees_only_their_dealers_leads_and_staff_get_403(client: Any) -> None:
    a, fa, fb = _world()
    c = make_customer(a.dealer, name="张伟", mobile="13812345678")
    cid = c.id
    fc = make_follower(dealer_id=a.dealer.id)
    bind(c, fc)
    _score()
    signed_in(client, Role.DEALER_MANAGER, dealer=a.dealer)
    page = text(client.get("/admin/leads/"))
    assert "王先生" in page and "张伟" in page and "13812345678" in page and "李女士" not in page
    assert f"/admin/customers/{cid}" in page
    assert client.get(f"/admin/leads/{fb.id}/intent").status_code == 404
    assert post(client, f"/admin/leads/{fb.id}/invite").status_code == 404
    assert _deliveries(fb.id) == []
    csv = client.get("/admin/leads/export.csv")
    assert csv.status_code == 200 and "王先生" in text(csv) and "李女士" not in text(csv)
    post(client, "/admin/logout")
    signed_in(client, Role.DEALER_STAFF, dealer=a.dealer)
    assert client.get("/admin/leads/").status_code == 403
    assert post(client, f"/admin/leads/{fa.id}/task").status_code == 403


def test_invite_enqueues_one_message_and_refuses_a_second_within_14_days(client: Any) -> None:
    a, fa, _ = _world()
    signed_in(client, Role.DEALER_MANAGER, dealer=a.dealer)
    resp = post(client, f"/admin/leads/{fa.id}/invite")
    assert resp.status_code == 303
    rows = _deliveries(fa.id)
    assert len(rows) == 1 and rows[0].channel == Channel.CUSTOM and rows[0].purpose == "lead_invite"
    body = rows[0].payload["text"]["content"]
    assert a.dealer.name in body and "/h5/demo/book?dealer=" in body and f"service={a.test_drive.id}" in body
    assert rows[0].dedupe_key.startswith(f"lead_invite:{fa.id}:")
    assert db.session.scalar(sa.select(LeadScore.invited_at).where(LeadScore.follower_id == fa.id)) is not None
    again = post(client, f"/admin/leads/{fa.id}/invite", follow=True)
    assert len(_deliveries(fa.id)) == 1 and "14" in text(again)
    _score()                                        # the nightly run keeps the invitation
    assert db.session.scalar(sa.select(LeadScore.invited_at).where(LeadScore.follower_id == fa.id)) is not None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "lead.invite")) == 1
    # the 'not invited in 14 days' filter hides them
    assert "王先生" not in text(client.get("/admin/leads/?not_invited=1"))


def test_closed_window_is_explained_and_nothing_is_enqueued(client: Any) -> None:
    a, fa, _ = _world()
    with db.transaction() as s:
        s.get_one(Follower, fa.id).last_interaction_at = utcnow() - timedelta(days=3)
    signed_in(client, Role.DEALER_MANAGER, dealer=a.dealer)
    page = text(post(client, f"/admin/leads/{fa.id}/invite", follow=True))
    assert "48" in page and _deliveries(fa.id) == []
    assert db.session.scalar(sa.select(LeadScore.invited_at).where(LeadScore.follower_id == fa.id)) is None


def test_task_is_made_once(client: Any) -> None:
    a, fa, _ = _world()
    signed_in(client, Role.DEALER_MANAGER, dealer=a.dealer)
    post(client, f"/admin/leads/{fa.id}/task")
    post(client, f"/admin/leads/{fa.id}/task")
    tasks = list(db.session.scalars(sa.select(Task).where(Task.follower_id == fa.id)))
    assert len(tasks) == 1 and tasks[0].rule == TaskRule.LEAD_INVITE and tasks[0].dealer_id == a.dealer.id
    assert tasks[0].title == "Invite to a test drive" and tasks[0].detail["score"] == 0


def test_staff_edit_intent_validates_and_saves(client: Any) -> None:
    a, fa, _ = _world()
    user = signed_in(client, Role.DEALER_MANAGER, dealer=a.dealer)
    form = text(client.get(f"/admin/leads/{fa.id}/intent"))
    assert "极氪001" in form and "极氪007" in form
    bad = post(client, f"/admin/leads/{fa.id}/intent", {"model": "极氪001", "budget": "lots", "timeline": "within_1m"})
    assert bad.status_code == 422 and db.session.scalar(sa.select(LeadIntent)) is None
    ok = post(client, f"/admin/leads/{fa.id}/intent",
              {"model": "极氪007", "budget": "200k_300k", "timeline": "within_1m", "note": "周末来"})
    assert ok.status_code == 303
    row = db.session.scalar(sa.select(LeadIntent).where(LeadIntent.follower_id == fa.id))
    assert row is not None and row.source == "staff" and row.updated_by == user.id
    assert row.timeline == BuyTimeline.WITHIN_1M and row.model == "极氪007" and row.note == "周末来"
    _score()
    page = text(client.get("/admin/leads/?timeline=within_1m&model=007&min_score=30"))
    assert "王先生" in page
    assert "王先生" not in text(client.get("/admin/leads/?timeline=within_3m"))
