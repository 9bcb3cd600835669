"""Campaign services: create/update/launch validation (nothing saved on bad input), scoping, launch now /
at / recurring, duplicate, pause/resume/cancel with their rows, listing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db, runtime
from scrm.db import utcnow
from scrm.models import (
    AuditLog,
    Campaign,
    CampaignStatus,
    Dealer,
    Delivery,
    DeliveryStatus,
    Follower,
    Role,
    Segment,
    TrackedLink,
)
from scrm.services import campaigns
from scrm.services.accounts import account_id
from scrm.services.campaigns import CampaignInput
from scrm.services.errors import Forbidden, Invalid, NotFound
from scrm.services.scope import Scope
from tests.factories import make_dealer, make_follower, make_staff
from tests.integration.customer_support import bind, make_customer, make_vehicle

pytestmark = pytest.mark.integration
TEXT = {"kind": "text", "text": "{{ customer.salutation }}，您的{{ vehicle.model }}该保养了 https://dealer.example.com/a"}


def world(n: int, *, dealer: Dealer | None = None, app_id: str | None = None, window: bool = True,
          city: str = "上海", name: str = "王") -> tuple[Dealer, int, list[Follower]]:
    """A dealer, `n` bound followers in `city` (window open or closed) and a segment of that city."""
    from scrm.sandbox import state as sandbox

    d = dealer or make_dealer()
    followers = []
    for i in range(n):
        at = utcnow() if window else utcnow() - timedelta(days=3)
        f = make_follower(dealer_id=d.id, interaction_kind="message", last_interaction_at=at)
        if app_id:
            sandbox.add_follower(app_id, f.openid, subscribed=True, interaction="message" if window else None)
        c = make_customer(d, name=f"{name}{i}", gender="male", city=city)
        make_vehicle(c, model="Model Y")
        bind(c, f)
        followers.append(f)
    with db.transaction() as s:
        seg = Segment(account_id=account_id("demo"), dealer_id=d.id, name=f"{city}车主",
                      definition={"match": "all", "rules": [{"field": "city", "op": "eq", "value": city}]})
        s.add(seg)
    return d, seg.id, followers


def admin() -> Scope:
    """A brand admin's scope."""
    return Scope.of(make_staff(Role.BRAND_ADMIN))


def data(segment_id: int | None, dealer_id: int | None, **kw: Any) -> CampaignInput:
    """A valid "now" campaign input for one text variant, changed by `kw`."""
    base = CampaignInput(name="保养提醒", dealer_id=dealer_id, segment_id=segment_id, channel="custom",
                         variants=[{"key": "A", "weight": 100, "message": TEXT}], holdout_pct=0, schedule="now",
                         send_at=None, recurrence={}, quiet_hours="", conversion_days=14)
    return replace(base, **kw)


def fresh(cid: int) -> Campaign:
    """The campaign as the database has it now."""
    db.session.remove()
    c = db.session.get(Campaign, cid)
    assert c is not None
    return c


def rows(cid: int) -> list[Delivery]:
    """The campaign's deliveries, freshly read."""
    db.session.remove()
    return list(db.session.scalars(sa.select(Delivery).where(Delivery.campaign_id == cid).order_by(Delivery.id)))


def test_create_saves_a_draft_and_audits(app_ctx: Any) -> None:
    d, seg, _ = world(1)
    c = campaigns.create(admin(), data(seg, d.id, name="  春季  保养 "))
    got = fresh(c.id)
    assert (got.status, got.name, got.variants[0]["message"]["text"]) == (CampaignStatus.DRAFT, "春季 保养",
                                                                          TEXT["text"])
    assert db.session.scalar(sa.select(AuditLog.action).where(AuditLog.target_id == str(c.id))) == "campaign.create"


TEMPLATE = {"template_id": "tpl_1", "url": "", "fields": {"thing1": "保养"}}
BAD: list[tuple[dict[str, Any], str]] = [
    ({"name": " "}, "name"),
    ({"segment_id": None}, "segment_id"),
    ({"channel": "sms"}, "channel"),
    ({"variants": []}, "variants"),
    ({"variants": [{"key": "A", "weight": 60, "message": TEXT}, {"key": "B", "weight": 30, "message": TEXT}]},
     "variants"),
    ({"variants": [{"key": "B", "weight": 100, "message": TEXT}]}, "variants"),
    ({"variants": [{"key": "A", "weight": 100, "message": {"kind": "text", "text": " "}}]}, "v0_text"),
    ({"variants": [{"key": "A", "weight": 50, "message": TEXT},
                   {"key": "B", "weight": 50, "message": {"kind": "text", "text": "{{ customer.name "}}]}, "v1_text"),
    # auto without a template is a text for open windows; fields without a template id are a mistake
    ({"channel": "auto", "variants": [{"key": "A", "weight": 100, "message": {
        **TEXT, "template": {"template_id": "", "fields": {"thing1": "{{ vehicle.model }}"}}}}]}, "v0_template_id"),
    ({"channel": "template", "variants": [{"key": "A", "weight": 100,
                                           "message": {"kind": "text", "template": {**TEMPLATE, "fields": {}}}}]},
     "v0_template_fields"),
    ({"holdout_pct": 60}, "holdout_pct"),
    ({"channel": "mass", "holdout_pct": 10}, "holdout_pct"),
    ({"channel": "mass", "variants": [{"key": "A", "weight": 50, "message": TEXT},
                                      {"key": "B", "weight": 50, "message": TEXT}]}, "variants"),
    ({"channel": "mass", "variants": [{"key": "A", "weight": 100, "message": {
        "kind": "news", "news": {"title": "t", "url": "https://x.example.com"}}}]}, "v0_text"),
    ({"schedule": "at", "send_at": None}, "send_at"),
    ({"schedule": "at", "send_at": utcnow() - timedelta(minutes=1)}, "send_at"),
    ({"schedule": "recurring", "recurrence": {"every": "year", "at": "09:00"}}, "recurrence"),
    ({"schedule": "recurring", "recurrence": {"every": "month", "at": "09:00", "day": 31}}, "recurrence"),
    ({"quiet_hours": "25:00-08:00"}, "quiet_hours"),
    ({"conversion_days": 0}, "conversion_days"),
    ({"conversion_days": 91}, "conversion_days"),
]


@pytest.mark.parametrize(("change", "field"), BAD)
def test_bad_input_names_the_field_and_saves_nothing(app_ctx: Any, change: dict[str, Any], field: str) -> None:
    d, seg, _ = world(0)
    with pytest.raises(Invalid) as err:
        campaigns.create(admin(), replace(data(seg, d.id), **change))
    assert err.value.field == field
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.action.like("campaign.%"))) == 0


def test_archived_or_other_dealers_segment_is_refused(app_ctx: Any) -> None:
    d, seg, _ = world(0)
    _, other_seg, _ = world(0)
    with db.transaction() as s:
        s.get(Segment, seg).archived_at = utcnow()
    for seg_id in (seg, other_seg):
        with pytest.raises(Invalid) as err:
            campaigns.create(admin(), data(seg_id, d.id))
        assert err.value.field == "segment_id"


def test_dealer_manager_is_kept_to_its_dealer(app_ctx: Any) -> None:
    d, seg, _ = world(1)
    other, other_seg, _ = world(1)
    mine = Scope.of(make_staff(Role.DEALER_MANAGER, dealer=d))
    with pytest.raises(Invalid) as err:
        campaigns.create(mine, data(other_seg, other.id))
    assert err.value.field == "dealer_id"
    with pytest.raises(Invalid):
        campaigns.create(mine, data(seg, None))        # account-wide is the brand's
    theirs = campaigns.create(admin(), data(other_seg, other.id))
    for call in (campaigns.get, campaigns.launch, campaigns.pause, campaigns.cancel, campaigns.duplicate):
        with pytest.raises(NotFound):
            call(mine, theirs.id)
    own = campaigns.create(mine, data(seg, d.id))
    assert [c.id for c in campaigns.listing(mine).items] == [own.id]
    with pytest.raises(Forbidden):
        campaigns.listing(Scope.of(make_staff(Role.DEALER_STAFF, dealer=d)))


def test_update_changes_a_draft_only(app_ctx: Any) -> None:
    d, seg, _ = world(1)
    scope = admin()
    c = campaigns.create(scope, data(seg, d.id))
    campaigns.update(scope, c.id, data(seg, d.id, name="新名字", holdout_pct=10))
    assert (fresh(c.id).name, fresh(c.id).holdout_pct) == ("新名字", 10)
    with pytest.raises(Invalid):
        campaigns.update(scope, c.id, data(seg, d.id, conversion_days=0))
    assert fresh(c.id).conversion_days == 14
    campaigns.launch(scope, c.id)
    with pytest.raises(Invalid):
        campaigns.update(scope, c.id, data(seg, d.id, name="太迟"))
    assert fresh(c.id).name == "新名字"


def test_launch_now_materialises_inline_once(app_ctx: Any) -> None:
    d, seg, fs = world(3)
    scope = admin()
    c = campaigns.create(scope, data(seg, d.id))
    campaigns.launch(scope, c.id)
    got = fresh(c.id)
    assert (got.status, got.occurrences, got.launched_by) == (CampaignStatus.RUNNING, 1, scope.staff_id)
    assert sorted(r.follower_id for r in rows(c.id)) == sorted(f.id for f in fs)
    assert {r.status for r in rows(c.id)} == {DeliveryStatus.PENDING}
    assert db.session.scalar(sa.select(TrackedLink.url).where(TrackedLink.campaign_id == c.id)) == \
        "https://dealer.example.com/a"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.action == "campaign.launch")) == 1
    with pytest.raises(Invalid):
        campaigns.launch(scope, c.id)
    assert len(rows(c.id)) == 3 and fresh(c.id).occurrences == 1


def test_a_big_now_launch_is_left_to_the_tick(app_ctx: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(campaigns, "INLINE_MAX", 1)
    d, seg, _ = world(2)
    scope = admin()
    c = campaigns.create(scope, data(seg, d.id))
    now = utcnow()
    campaigns.launch(scope, c.id, now=now)
    got = fresh(c.id)
    assert (got.status, got.next_run_at) == (CampaignStatus.SCHEDULED, now) and rows(c.id) == []


def test_launch_at_and_recurring_schedule_the_first_run(app_ctx: Any) -> None:
    d, seg, _ = world(1)
    scope = admin()
    at = utcnow() + timedelta(hours=3)
    c = campaigns.create(scope, data(seg, d.id, schedule="at", send_at=at))
    campaigns.launch(scope, c.id)
    assert (fresh(c.id).status, fresh(c.id).next_run_at) == (CampaignStatus.SCHEDULED, at) and rows(c.id) == []
    r = campaigns.create(scope, data(seg, d.id, schedule="recurring",
                                     recurrence={"every": "day", "at": "09:30", "until": ""}))
    campaigns.launch(scope, r.id)
    nxt = fresh(r.id).next_run_at
    assert nxt is not None and utcnow() < nxt <= utcnow() + timedelta(days=1)
    local = nxt.astimezone(runtime.get().settings.app.tz)
    assert (local.hour, local.minute) == (9, 30)


def test_launch_rechecks_a_send_time_that_has_passed(app_ctx: Any) -> None:
    d, seg, _ = world(1)
    scope = admin()
    at = utcnow() + timedelta(minutes=5)
    c = campaigns.create(scope, data(seg, d.id, schedule="at", send_at=at))
    with pytest.raises(Invalid) as err:
        campaigns.launch(scope, c.id, now=at + timedelta(minutes=1))
    assert err.value.field == "send_at" and fresh(c.id).status == CampaignStatus.DRAFT


def test_duplicate_makes_a_draft_copy(app_ctx: Any) -> None:
    d, seg, _ = world(1)
    scope = admin()
    c = campaigns.create(scope, data(seg, d.id, holdout_pct=20))
    campaigns.launch(scope, c.id)
    copy = campaigns.duplicate(scope, c.id)
    got = fresh(copy.id)
    assert (got.status, got.holdout_pct, got.variants, got.occurrences) == \
        (CampaignStatus.DRAFT, 20, fresh(c.id).variants, 0)
    assert got.name.startswith("保养提醒")


def test_pause_resume_cancel_move_the_rows(app_ctx: Any) -> None:
    d, seg, _ = world(3)
    scope = admin()
    c = campaigns.create(scope, data(seg, d.id))
    campaigns.launch(scope, c.id)
    with pytest.raises(Invalid):
        campaigns.resume(scope, c.id)                  # not paused
    campaigns.pause(scope, c.id)
    assert fresh(c.id).status == CampaignStatus.PAUSED and {r.status for r in rows(c.id)} == {DeliveryStatus.HELD}
    campaigns.resume(scope, c.id)
    assert fresh(c.id).status == CampaignStatus.RUNNING
    assert {r.status for r in rows(c.id)} == {DeliveryStatus.PENDING}
    campaigns.pause(scope, c.id)
    campaigns.cancel(scope, c.id)
    assert fresh(c.id).status == CampaignStatus.CANCELLED
    assert {(r.status, r.result) for r in rows(c.id)} == {(DeliveryStatus.CANCELLED, "cancelled")}
    with pytest.raises(Invalid):
        campaigns.cancel(scope, c.id)
    with pytest.raises(Invalid):
        campaigns.pause(scope, c.id)
    actions = list(db.session.scalars(sa.select(AuditLog.action).where(AuditLog.target_id == str(c.id))
                                      .order_by(AuditLog.id)))
    assert actions == ["campaign.create", "campaign.launch", "campaign.pause", "campaign.resume", "campaign.pause",
                       "campaign.cancel"]


def test_pausing_a_scheduled_campaign_then_resuming_waits_again(app_ctx: Any) -> None:
    d, seg, _ = world(1)
    scope = admin()
    c = campaigns.create(scope, data(seg, d.id, schedule="at", send_at=utcnow() + timedelta(hours=1)))
    campaigns.launch(scope, c.id)
    campaigns.pause(scope, c.id)
    assert fresh(c.id).status == CampaignStatus.PAUSED
    campaigns.resume(scope, c.id)
    assert fresh(c.id).status == CampaignStatus.SCHEDULED


def test_cancel_a_draft_and_listing_by_status(app_ctx: Any) -> None:
    d, seg, _ = world(1)
    scope = admin()
    a = campaigns.create(scope, data(seg, d.id, name="一"))
    b = campaigns.create(scope, data(seg, d.id, name="二"))
    campaigns.cancel(scope, a.id)
    assert [c.id for c in campaigns.listing(scope, "cancelled").items] == [a.id]
    assert [c.id for c in campaigns.listing(scope, "draft").items] == [b.id]
    assert campaigns.listing(scope).total == 2 and campaigns.listing(scope, "bogus").total == 2
