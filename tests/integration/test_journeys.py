"""Journeys end to end on the welcome series: ensure, enrol, steps once per occurrence across ticks and days,
send-time rendering through the sandbox, disabling, the admin-facing service (validation, audit, figures)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db, runtime
from scrm.db import utcnow
from scrm.jobs import journey_jobs
from scrm.models import (
    AuditLog,
    Customer,
    Dealer,
    Delivery,
    DeliveryStatus,
    Follower,
    Gender,
    Journey,
    JourneyEnrolment,
    JourneyKind,
    Role,
    Stage,
)
from scrm.outbox.worker import drain
from scrm.sandbox import state as sandbox
from scrm.services import journeys
from scrm.services.errors import Forbidden, Invalid, NotFound
from scrm.services.scope import Scope
from tests.factories import make_dealer, make_follower, make_staff
from tests.integration.customer_support import bind, make_customer, make_vehicle

pytestmark = pytest.mark.integration


def local_today(now: datetime | None = None) -> date:
    """Today in the app's time zone."""
    return (now or utcnow()).astimezone(runtime.get().settings.app.tz).date()


def at_local(day: date, hh: int, mm: int = 0) -> datetime:
    """A local wall-clock time as UTC."""
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=runtime.get().settings.app.tz).astimezone(UTC)


def owner(app_id: str, dealer: Dealer, *, subscribed: bool = True, **customer: Any) -> tuple[Customer, Follower]:
    """A bound customer with a follower the sandbox knows (open 48-hour window)."""
    f = make_follower(dealer_id=dealer.id, interaction_kind="message", subscribed=subscribed)
    sandbox.add_follower(app_id, f.openid, subscribed=subscribed, interaction="message")
    values: dict[str, Any] = dict(name="王小明", gender=Gender.MALE, stage=Stage.OWNER)
    values.update(customer)
    c = make_customer(dealer, **values)
    bind(c, f)
    return c, f


def journey(dealer: Dealer, kind: JourneyKind, *, enabled: bool = True, **settings: Any) -> int:
    """The dealer's journey of `kind` (created by ensure), switched and set as asked; its id."""
    with db.transaction() as s:
        j = next(x for x in journeys.ensure(s, dealer.account_id, dealer.id) if x.kind == kind)
        j.enabled = enabled
        j.settings = {**j.settings, **settings}
        return j.id


def rows(journey_id: int) -> list[Delivery]:
    """The journey's deliveries, freshly read."""
    db.session.remove()
    return list(db.session.scalars(sa.select(Delivery).where(Delivery.journey_id == journey_id)
                                   .order_by(Delivery.id)))


def enrolments(journey_id: int) -> list[JourneyEnrolment]:
    """The journey's enrolments, freshly read."""
    db.session.remove()
    return list(db.session.scalars(sa.select(JourneyEnrolment).where(JourneyEnrolment.journey_id == journey_id)
                                   .order_by(JourneyEnrolment.id)))


@pytest.fixture
def app_id(live_server: Any, app_ctx: Any, settings: Any) -> str:
    return str(settings.accounts["demo"].app_id)


def test_ensure_creates_eight_disabled_journeys_once_with_chinese_wording(app_ctx: Any) -> None:
    d = make_dealer()
    with db.transaction() as s:
        first = journeys.ensure(s, d.account_id, d.id)
    with db.transaction() as s:
        again = journeys.ensure(s, d.account_id, d.id)
        assert s.scalar(sa.select(sa.func.count()).select_from(Journey)) == 8
    assert [j.kind for j in first] == list(JourneyKind) and [j.id for j in again] == [j.id for j in first]
    birthday = next(j for j in again if j.kind == JourneyKind.BIRTHDAY)
    assert not birthday.enabled and birthday.settings["send_at"] == "09:00"
    assert "生日快乐" in birthday.steps[0]["message"]["text"]


def test_welcome_d0_written_once_at_the_send_time(app_id: str) -> None:
    d = make_dealer()
    jid = journey(d, JourneyKind.WELCOME)
    today = local_today()
    c, f = owner(app_id, d)
    v = make_vehicle(c, model="Model Y", purchase_date=today)
    now = utcnow()
    counts = journey_jobs.tick(now)
    assert counts["welcome.enrolled"] == 1 and counts["welcome.deliveries"] == 1
    assert journey_jobs.tick(now + timedelta(minutes=15)).get("deliveries", 0) == 0
    [row] = rows(jid)
    assert row.dedupe_key == f"j:{jid}:d0:v{v.id}:{f.id}" and row.arm == "d0" and row.purpose == "journey"
    assert row.next_try_at == at_local(today, 10) and row.status == DeliveryStatus.PENDING
    [e] = enrolments(jid)
    assert row.payload["render"] == {"kind": "journey", "journey_id": jid, "step": "d0", "enrolment_id": e.id,
                                     "customer_id": c.id}
    assert e.occurrence == f"v{v.id}" and e.anchor == today and e.context == {"vehicle_id": v.id}


def test_welcome_steps_across_days_each_once(app_id: str) -> None:
    d = make_dealer()
    jid = journey(d, JourneyKind.WELCOME)
    today = local_today()
    c, _ = owner(app_id, d)
    make_vehicle(c, model="Model 3", purchase_date=today)
    for day in range(0, 35):
        for hour in (1, 13):
            journey_jobs.tick(at_local(today + timedelta(days=day), hour))
    got = rows(jid)
    assert [(r.arm, r.next_try_at) for r in got] == [("d0", at_local(today, 10)),
                                                       ("d7", at_local(today + timedelta(days=7), 10)),
                                                       ("d30", at_local(today + timedelta(days=30), 10))]
    [e] = enrolments(jid)
    assert e.steps_done == 3 and e.exit_reason == "completed"


def test_a_step_more_than_two_days_late_is_skipped_not_sent(app_id: str) -> None:
    d = make_dealer()
    jid = journey(d, JourneyKind.WELCOME)
    today = local_today()
    c, _ = owner(app_id, d)
    make_vehicle(c, model="Model 3", purchase_date=today - timedelta(days=9))   # d0 9 days late, d7 2 days late
    journey_jobs.tick()
    by_step = {r.arm: r for r in rows(jid)}
    assert by_step["d0"].status == DeliveryStatus.SKIPPED and by_step["d0"].result == "late"
    assert by_step["d7"].status == DeliveryStatus.PENDING
    assert by_step["d7"].next_try_at == at_local(today - timedelta(days=2), 10)
    assert "d30" not in by_step


def test_sent_through_the_worker_with_the_owners_details(app_id: str) -> None:
    d = make_dealer(phone="021-66668888")
    jid = journey(d, JourneyKind.WELCOME, send_at="00:00")
    c, f = owner(app_id, d)
    make_vehicle(c, model="Model Y", purchase_date=local_today())
    journey_jobs.tick()
    assert drain() == 1
    [row] = rows(jid)
    assert row.status == DeliveryStatus.SENT and row.channel_used == "custom"
    [msg] = sandbox.messages_for(app_id, f.openid)
    text = str(msg)
    assert "王先生" in text and "Model Y" in text and "021-66668888" in text


def test_disabled_journey_enrols_nobody_and_skips_unsent_steps(app_id: str) -> None:
    d = make_dealer()
    jid = journey(d, JourneyKind.WELCOME, enabled=False, send_at="00:00")
    c, f = owner(app_id, d)
    make_vehicle(c, model="Model Y", purchase_date=local_today())
    assert journey_jobs.tick() == {}
    assert enrolments(jid) == []
    journey(d, JourneyKind.WELCOME, enabled=True)
    journey_jobs.tick()
    journey(d, JourneyKind.WELCOME, enabled=False)
    drain()
    [row] = rows(jid)
    assert row.status == DeliveryStatus.SKIPPED and row.error == "exited: journey disabled"
    assert sandbox.messages_for(app_id, f.openid) == []


def test_other_dealers_customers_and_unsubscribed_followers_are_not_enrolled(app_id: str) -> None:
    d, other = make_dealer(), make_dealer()
    jid = journey(d, JourneyKind.WELCOME)
    today = local_today()
    c1, _ = owner(app_id, other)
    make_vehicle(c1, purchase_date=today)
    c2, _ = owner(app_id, d, subscribed=False)
    make_vehicle(c2, purchase_date=today)
    c3 = make_customer(d, name="未绑定")
    make_vehicle(c3, purchase_date=today)
    journey_jobs.tick()
    assert enrolments(jid) == [] and rows(jid) == []


def _scope(role: Role, dealer: Dealer | None) -> Scope:
    return Scope.of(make_staff(role, dealer=dealer))


def _message(text: str) -> dict[str, Any]:
    return {"kind": "text", "text": text, "template": {"template_id": "", "url": "", "fields": {}}}


def test_update_validates_saves_and_audits(app_ctx: Any) -> None:
    d = make_dealer()
    manager = _scope(Role.DEALER_MANAGER, d)
    rows_ = journeys.listing(manager, None)
    assert len(rows_) == 8
    j = next(r.journey for r in rows_ if r.journey.kind == JourneyKind.MAINTENANCE)
    good = {"due": _message("{{ customer.salutation }}，该保养了"), "reminder": _message("再提醒")}
    with pytest.raises(Invalid) as bad:
        journeys.update(manager, j.id, enabled=True, channel="auto", settings={"months": "99", "km": "5000",
                                                                                "send_at": "10:00"}, steps=good)
    assert bad.value.field == "setting_months"
    with pytest.raises(Invalid) as bad:
        journeys.update(manager, j.id, enabled=True, channel="auto", settings={},
                        steps={**good, "reminder": _message("{{ customer.password }}")})
    assert bad.value.field == "s_reminder_text"
    with pytest.raises(Invalid) as bad:
        journeys.update(manager, j.id, enabled=True, channel="mass", settings={}, steps=good)
    assert bad.value.field == "channel"
    assert journeys.get(manager, j.id)[0].enabled is False      # nothing saved
    saved = journeys.update(manager, j.id, enabled=True, channel="auto",
                            settings={"months": "3", "km": "8000", "send_at": "8:30"}, steps=good)
    assert saved.enabled and saved.settings == {"months": 3, "km": 8000, "send_at": "08:30"}
    assert saved.steps[0] == {"key": "due", "message": {"kind": "text", "text": "{{ customer.salutation }}，该保养了"}}
    journeys.set_enabled(manager, j.id, False)
    with db.transaction() as s:
        actions = list(s.scalars(sa.select(AuditLog.action).order_by(AuditLog.id)))
    assert actions == ["journey.update", "journey.disable"]


def test_seasonal_dates_setting(app_ctx: Any) -> None:
    d = make_dealer()
    admin = _scope(Role.BRAND_ADMIN, None)
    j = next(r.journey for r in journeys.listing(admin, d.id) if r.journey.kind == JourneyKind.SEASONAL)
    steps = {"tip": _message("冬季贴士")}
    with pytest.raises(Invalid) as bad:
        journeys.update(admin, j.id, enabled=True, channel="custom", settings={"dates": "11-15, 02-30"}, steps=steps)
    assert bad.value.field == "setting_dates"
    saved = journeys.update(admin, j.id, enabled=True, channel="custom", settings={"dates": "11-15，06-01"},
                            steps=steps)
    assert saved.settings["dates"] == ["06-01", "11-15"]


def test_scoping_and_permissions(app_ctx: Any) -> None:
    d, other = make_dealer(), make_dealer()
    staff = _scope(Role.DEALER_STAFF, d)
    mine = journeys.listing(staff, None)                   # staff may look
    assert len(mine) == 8
    with pytest.raises(Forbidden):
        journeys.set_enabled(staff, mine[0].journey.id, True)
    theirs = journeys.listing(_scope(Role.BRAND_ADMIN, None), other.id)
    manager = _scope(Role.DEALER_MANAGER, d)
    with pytest.raises(NotFound):
        journeys.get(manager, theirs[0].journey.id)
    with pytest.raises(Forbidden):
        journeys.listing(manager, other.id)


def test_stats_and_recent_enrolments(app_id: str) -> None:
    d = make_dealer()
    jid = journey(d, JourneyKind.WELCOME, send_at="00:00")
    today = local_today()
    c, _ = owner(app_id, d, name="李四光")
    make_vehicle(c, purchase_date=today)
    c2, _ = owner(app_id, d)
    make_vehicle(c2, purchase_date=today - timedelta(days=9))
    journey_jobs.tick()
    drain()
    manager, staff = _scope(Role.DEALER_MANAGER, d), _scope(Role.DEALER_STAFF, d)
    st = journeys.stats(manager, jid)
    assert st.steps["d0"].sent == 1 and st.steps["d0"].skipped == 1 and st.steps["d7"].sent == 1
    assert st.steps["d30"].pending == 0 and st.active == 2
    recent = journeys.recent_enrolments(manager, jid)
    assert {r.customer for r in recent} == {"李四光", "王小明"} and all(r.steps_total == 3 for r in recent)
    assert {r.customer for r in journeys.recent_enrolments(staff, jid)} == {"李**", "王**"}
    row = next(r for r in journeys.listing(manager, None) if r.journey.id == jid)
    assert row.stats.sent_30d == 2
