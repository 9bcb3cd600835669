"""Dealer A's staff (and another account's brand admin) cannot read or change dealer B's rows
through ANY admin route: every /admin URL rule is tried with B's ids, by GET and by POST."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.db import Base
from scrm.models import (
    ApiKey,
    AuditLog,
    Badge,
    BadgeRule,
    BindingCode,
    Booking,
    BookingSource,
    Campaign,
    CampaignChannel,
    Closure,
    ClubEvent,
    Customer,
    CustomerBinding,
    CustomerScore,
    Dealer,
    DemoCar,
    DuplicatePair,
    EventRegistration,
    EventStatus,
    Follower,
    ImportJob,
    ImportKind,
    Journey,
    JourneyKind,
    KeywordReply,
    LeadIntent,
    LeadScore,
    Member,
    MergeRecord,
    PairKind,
    QrScene,
    Redemption,
    RegistrationStatus,
    Reward,
    Role,
    SceneKind,
    Segment,
    ServiceKind,
    ServiceType,
    StaffUser,
    StatDaily,
    Task,
    TaskRule,
    Tier,
    Trigger,
)
from tests.factories import make_dealer, make_follower, make_keyword, make_staff
from tests.integration.admin_support import csrf, login, signed_in, text
from tests.integration.customer_support import make_customer

pytestmark = pytest.mark.integration

# Which of B's rows fills each URL argument. A new admin route with an id argument must be added here.
ARG_MODELS: dict[str, type[Any]] = {"keyword_id": KeywordReply, "staff_id": StaffUser, "dealer_id": Dealer,
                                    "customer_id": Customer, "job_id": ImportJob, "key_id": ApiKey,
                                    "code_id": BindingCode, "binding_id": CustomerBinding,
                                    "pair_id": DuplicatePair, "merge_id": MergeRecord, "booking_id": Booking,
                                    "closure_id": Closure, "type_id": ServiceType, "car_id": DemoCar,
                                    "member_id": Member, "tier_id": Tier, "badge_id": Badge, "event_id": ClubEvent,
                                    "registration_id": EventRegistration,
                                    "reward_id": Reward, "redemption_id": Redemption, "segment_id": Segment,
                                    "campaign_id": Campaign, "journey_id": Journey, "task_id": Task,
                                    "follower_id": Follower}
# URL arguments that name no row (a figure's key): filled with a real value; such a route may answer 200
# with the user's own data, and is still checked for B's secrets.
NAME_ARGS: dict[str, str] = {"key": "followers_by_staff"}
SELF_ROUTES = {"admin.login", "admin.logout", "admin.language", "static"}
SECRETS = ("B-SECRET-REPLY", "B-SECRET-FOLLOWER", "B-SECRET-STAFF", "B-SECRET-DEALER", "B-SECRET-QR",
           "B-SECRET-CUSTOMER", "B-SECRET-IMPORT", "B-SECRET-APIKEY", "B-SECRET-SERVICE", "B-SECRET-CAR",
           "B-SECRET-CLOSURE", "B-SECRET-EVENT", "B-SECRET-REWARD", "B-SECRET-SEGMENT", "B-SECRET-CAMPAIGN",
           "B-SECRET-JOURNEY", "B-SECRET-TASK", "B-SECRET-LEAD")
PAYLOAD = {"reason": "hacked", "add": "5", "cost": "1",
           "keyword": "hacked", "text": "hacked", "match": "exact", "kind": "text", "priority": "1",
           "enabled": "0", "password": "hacked-password-123", "username": "hacker.x", "role": "dealer_staff",
           "display_name": "hacker", "code": "HACK1", "name": "hacked", "label": "hacked", "permanent": "y",
           "days": "30", "city": "x", "address": "x", "phone": "1", "latitude": "", "longitude": "",
           "welcome_text": "hacked", "active": "", "action": "save", "b0.name": "hacked", "b0.type": "click",
           "b0.key": "HACKED"}


def _snapshot() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the audit log (sign-ins legitimately add to it)."""
    db.session.remove()
    out = {}
    with db.engine().connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name == "audit_logs":
                continue
            cols = [c for c in table.columns if c.name not in ("last_login_at",)]
            out[table.name] = [tuple(r) for r in conn.execute(sa.select(*cols).order_by(*table.primary_key.columns))]
    return out


def _b_world() -> dict[str, Any]:
    a = make_dealer(code="DA", name="甲店")
    b = make_dealer(code="DB", name="B-SECRET-DEALER")
    b_reply = make_keyword("乙店活动", "B-SECRET-REPLY", dealer_id=b.id)
    b_staff = make_staff(Role.DEALER_MANAGER, dealer=b, display_name="B-SECRET-STAFF")
    make_follower(dealer_id=b.id, remark="B-SECRET-FOLLOWER", scene_kind=SceneKind.DEALER)
    with db.transaction() as s:
        s.add(QrScene(account_id=b.account_id, scene="dealer:DB", kind=SceneKind.DEALER, dealer_id=b.id,
                      label="B-SECRET-QR", permanent=True))
        b_job = ImportJob(account_id=b.account_id, dealer_id=b.id, kind=ImportKind.CUSTOMERS,
                          filename="B-SECRET-IMPORT.csv", report_path="x")
        s.add(b_job)
        b_key = ApiKey(account_id=b.account_id, dealer_id=b.id, name="B-SECRET-APIKEY", prefix="bsecret0",
                       key_hash="0" * 64)
        s.add(b_key)
        s.flush()
    b_customer = make_customer(b, name="B-SECRET-CUSTOMER", tags=[])
    b_code, b_binding = _b_binding(b_customer)
    b_pair, b_merge = _b_merge(b, b_customer)
    booking_ids = _b_booking(b, b_customer)
    loyalty_ids = _b_loyalty(b)
    marketing_ids = _b_marketing(b)
    analytics_ids = _b_analytics(b, b_customer, b_staff)
    return {"a": a, "b": b, "ids": {**booking_ids, **loyalty_ids, **marketing_ids, **analytics_ids, **NAME_ARGS,
                                    "keyword_id": b_reply.id,
                                    "staff_id": b_staff.id, "dealer_id": b.id,
                                    "customer_id": b_customer.id, "job_id": b_job.id, "key_id": b_key.id,
                                    "code_id": b_code.id, "binding_id": b_binding.id, "pair_id": b_pair.id,
                                    "merge_id": b_merge.id}}


def _b_booking(b: Dealer, c: Customer) -> dict[str, int]:
    """B's booking set-up (a service type, a demo car, a closure) and a booking of B's customer."""
    from datetime import date, timedelta

    start = db.utcnow().replace(microsecond=0) + timedelta(days=2)
    with db.transaction() as s:
        st = ServiceType(account_id=b.account_id, dealer_id=b.id, code="BSECRET", name="B-SECRET-SERVICE",
                         kind=ServiceKind.TEST_DRIVE, duration_minutes=30, capacity=2)
        car = DemoCar(account_id=b.account_id, dealer_id=b.id, model="B-SECRET-CAR", plate="沪B00001")
        closure = Closure(account_id=b.account_id, dealer_id=b.id, day=date.today() + timedelta(days=20),
                          from_time=None, to_time=None, reason="B-SECRET-CLOSURE")
        s.add_all([st, car, closure])
        s.flush()
        booking = Booking(account_id=b.account_id, dealer_id=b.id, customer_id=c.id, service_type_id=st.id,
                          demo_car_id=car.id, start_at=start, end_at=start + timedelta(minutes=30),
                          source=BookingSource.STAFF, request_key="b-secret-booking")
        s.add(booking)
        s.flush()
        return {"booking_id": booking.id, "closure_id": closure.id, "type_id": st.id, "car_id": car.id}


def _b_loyalty(b: Dealer) -> dict[str, int]:
    """B's member, club event and registration; a tier and a badge (account-wide: their names are no secret)."""
    from datetime import timedelta

    from scrm.services import ledger

    follower = make_follower(dealer_id=b.id, remark="B-SECRET-FOLLOWER")
    with db.transaction() as s:
        member = ledger.member_in(s, follower.id)
        tier = Tier(account_id=b.account_id, code="bgold", name="集团金卡", threshold=0)
        badge = Badge(account_id=b.account_id, code="bbadge", name="集团徽章", rule=BadgeRule.MANUAL)
        start = db.utcnow() + timedelta(days=3)
        event = ClubEvent(account_id=b.account_id, dealer_id=b.id, title="B-SECRET-EVENT", starts_at=start,
                          ends_at=start + timedelta(hours=2), registration_deadline=start - timedelta(days=1),
                          checkin_token="b" * 24, status=EventStatus.PUBLISHED)
        s.add_all([tier, badge, event])
        s.flush()
        reg = EventRegistration(event_id=event.id, member_id=member.id, status=RegistrationStatus.REGISTERED)
        s.add(reg)
        s.flush()
        reward = Reward(account_id=b.account_id, dealer_id=b.id, name="B-SECRET-REWARD", cost=100, stock=5)
        s.add(reward)
        s.flush()
        ledger.earn_in(s, member.id, Trigger.CHECKIN, key="scoping", source="test", points=100)
        ids = {"member_id": member.id, "tier_id": tier.id, "badge_id": badge.id, "event_id": event.id,
               "registration_id": reg.id, "reward_id": reward.id}
    from scrm.services import rewards

    ids["redemption_id"] = rewards.redeem(follower.id, ids["reward_id"], "scoping").id
    return ids


def _b_marketing(b: Dealer) -> dict[str, int]:
    """B's segment, a draft campaign for it and B's birthday journey, each worded with a secret."""
    from scrm.services import journeys

    definition = {"match": "all", "rules": [{"field": "city", "op": "eq", "value": "上海"}]}
    message = {"kind": "text", "text": "B-SECRET-CAMPAIGN"}
    with db.transaction() as s:
        seg = Segment(account_id=b.account_id, dealer_id=b.id, name="B-SECRET-SEGMENT", definition=definition)
        s.add(seg)
        s.flush()
        camp = Campaign(account_id=b.account_id, dealer_id=b.id, name="B-SECRET-CAMPAIGN", segment_id=seg.id,
                        channel=CampaignChannel.CUSTOM, variants=[{"key": "A", "weight": 100, "message": message}])
        s.add(camp)
        journey = next(j for j in journeys.ensure(s, b.account_id, b.id) if j.kind == JourneyKind.BIRTHDAY)
        journey.steps = [{"key": "day", "message": {"kind": "text", "text": "B-SECRET-JOURNEY"}}]
        s.flush()
        return {"segment_id": seg.id, "campaign_id": camp.id, "journey_id": journey.id}


def _b_analytics(b: Dealer, c: Customer, staff: StaffUser) -> dict[str, int]:
    """B's follow-up task, a lead with a stated intent, a churn score and a day of follows by B's staff QR."""
    from datetime import date, timedelta

    from scrm.services import tasks

    lead = make_follower(dealer_id=b.id, remark="B-SECRET-LEAD")
    with db.transaction() as s:
        task = tasks.create(s, tasks.NewTask(account_id=b.account_id, dealer_id=b.id, rule=TaskRule.MANUAL,
                                             dedupe_key="b-secret-task", title="B-SECRET-TASK",
                                             due_on=date.today() + timedelta(days=1), customer_id=c.id))
        s.add(LeadIntent(account_id=b.account_id, dealer_id=b.id, follower_id=lead.id, model="B-SECRET-LEAD",
                         note="B-SECRET-LEAD"))
        s.add(LeadScore(account_id=b.account_id, dealer_id=b.id, follower_id=lead.id, score=90,
                        models=["B-SECRET-LEAD"]))
        s.add(CustomerScore(account_id=b.account_id, dealer_id=b.id, customer_id=c.id, churn_score=90))
        s.add(StatDaily(account_id=b.account_id, dealer_id=b.id, day=date.today(), metric="follows_staff",
                        dim=str(staff.id), value=7))
    assert task is not None
    return {"task_id": task, "follower_id": lead.id}


def _b_merge(b: Dealer, c: Customer) -> tuple[DuplicatePair, MergeRecord]:
    """An open duplicate pair of B's customers and a merge of B's customers."""
    twin = make_customer(b, tags=[])
    with db.transaction() as s:
        pair = DuplicatePair(account_id=c.account_id, dealer_id=c.dealer_id, first_id=c.id, second_id=twin.id,
                             kind=PairKind.EXACT, score=90, reasons=["same_name"])
        gone = Customer(account_id=c.account_id, dealer_id=c.dealer_id, name="B-SECRET-CUSTOMER", merged_into_id=c.id)
        s.add_all([pair, gone])
        s.flush()
        merge = MergeRecord(account_id=c.account_id, dealer_id=c.dealer_id, survivor_id=c.id, merged_id=gone.id,
                            before={"survivor": {}, "merged": {"name": "B-SECRET-CUSTOMER"}}, moved={})
        s.add(merge)
    return pair, merge


def _b_binding(c: Customer) -> tuple[BindingCode, CustomerBinding]:
    """An open binding QR of B's customer and a follower bound to it."""
    from datetime import timedelta

    f = make_follower(dealer_id=c.dealer_id)
    with db.transaction() as s:
        code = BindingCode(account_id=c.account_id, dealer_id=c.dealer_id, customer_id=c.id, token="B" * 24,
                           ticket="t", url="http://weixin.qq.com/q/b-secret",
                           expires_at=db.utcnow() + timedelta(hours=1))
        bound = CustomerBinding(account_id=c.account_id, dealer_id=c.dealer_id, follower_id=f.id, customer_id=c.id)
        s.add_all([code, bound])
    return code, bound


def _rules(app: Any) -> list[Any]:
    rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/admin") and r.endpoint not in SELF_ROUTES]
    assert len(rules) >= 15, "the admin routes were not found"
    return rules


def _url(rule: Any, ids: dict[str, int]) -> str:
    values = {}
    for arg in rule.arguments:
        assert arg in ids, f"{rule.endpoint}: add {arg!r} to ARG_MODELS so the scoping test covers it"
        values[arg] = ids[arg]
    from flask import url_for

    return url_for(rule.endpoint, **values)


def _probe(client: Any, app: Any, ids: dict[str, int]) -> list[str]:
    """Try every admin route; return what went wrong (empty when all is well)."""
    token = csrf(client, "/admin/")
    failures: list[str] = []
    for rule in _rules(app):
        with app.test_request_context():
            url = _url(rule, ids)
        for method in sorted(rule.methods & {"GET", "POST"}):
            if method == "GET":
                resp = client.get(url)
            else:
                resp = client.post(url, data={**PAYLOAD, "dealer_id": str(ids["dealer_id"]), "csrf_token": token})
            body = text(resp)
            leaked = [s for s in SECRETS if s in body]
            if leaked:
                failures.append(f"{method} {url}: shows {leaked}")
            if set(rule.arguments) - set(NAME_ARGS) and resp.status_code not in (403, 404):
                failures.append(f"{method} {url}: status {resp.status_code}, expected 403 or 404")
            if resp.status_code >= 500:
                failures.append(f"{method} {url}: server error")
    return failures


@pytest.mark.parametrize("role", [Role.DEALER_MANAGER, Role.DEALER_STAFF])
def test_dealer_a_cannot_touch_dealer_b(client: Any, app: Any, role: Role, live_server: Any) -> None:
    w = _b_world()
    signed_in(client, role, dealer=w["a"])
    before = _snapshot()
    failures = _probe(client, app, w["ids"])
    assert not failures, "\n".join(failures)
    after = _snapshot()
    # rows a manager may write for their own dealer (opening 客户旅程 creates the dealer's journeys)
    own = ("keyword_replies", "api_keys", "quality_snapshots", "journeys")
    changed = [t for t in before if before[t] != after[t] and t not in own]
    assert not changed, f"tables changed: {changed}"
    assert all(row in after["journeys"] for row in before["journeys"]), "a journey of dealer B was changed"
    # A manager may create replies for their own dealer; nothing may be written for dealer B.
    db.session.remove()
    b_rows = db.session.scalars(sa.select(KeywordReply).where(KeywordReply.dealer_id == w["b"].id)).all()
    assert [(r.keyword, r.text, r.enabled) for r in b_rows] == [("乙店活动", "B-SECRET-REPLY", True)]
    assert all(r.dealer_id == w["a"].id for r in db.session.scalars(
        sa.select(KeywordReply).where(KeywordReply.keyword == "hacked")))
    keys = db.session.scalars(sa.select(ApiKey)).all()  # a manager may create keys for their own dealer only
    assert all(k.dealer_id == w["a"].id for k in keys if k.id != w["ids"]["key_id"])
    assert [k.revoked_at for k in keys if k.id == w["ids"]["key_id"]] == [None]
    writes = db.session.scalars(sa.select(AuditLog).where(~AuditLog.action.startswith("auth."))).all()
    assert all(r.dealer_id == w["a"].id for r in writes), [(r.action, r.dealer_id) for r in writes]


def test_another_accounts_brand_admin_cannot_touch_this_account(client: Any, app: Any, live_server: Any) -> None:
    w = _b_world()
    make_staff(Role.BRAND_ADMIN, account="safe", username="other.brand")
    assert login(client, "other.brand").status_code == 303
    before = _snapshot()
    failures = _probe(client, app, w["ids"])
    assert not failures, "\n".join(failures)
    after = _snapshot()
    demo_tables = ("keyword_replies", "dealers", "staff_users", "qr_scenes", "followers", "menu_versions", "api_keys")
    for table in demo_tables:
        kept = [r for r in after[table] if r in before[table]]
        assert kept == before[table], f"{table}: demo rows changed"
    db.session.remove()
    new_rows = db.session.scalars(sa.select(KeywordReply).where(KeywordReply.keyword == "hacked")).all()
    assert all(r.account_id != w["a"].account_id for r in new_rows)


def test_arg_models_match_the_routes(app: Any) -> None:
    args = {a for r in _rules(app) for a in r.arguments}
    assert args == set(ARG_MODELS) | set(NAME_ARGS), "every id argument of an admin route needs a row in ARG_MODELS"
