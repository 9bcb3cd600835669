"""The best-leads list for staff: scoped rows with their reasons in words, invitations, tasks and intent edits."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from flask_babel import gettext
from sqlalchemy.orm import Session

from scrm import db, runtime
from scrm.models import (
    BuyTimeline,
    Channel,
    Customer,
    Dealer,
    Follower,
    LeadIntent,
    LeadScore,
    ServiceKind,
    ServiceType,
    StaffUser,
    TaskRule,
)
from scrm.outbox.enqueue import enqueue
from scrm.services import audit, tasks
from scrm.services.accounts import settings_for_id
from scrm.services.analytics_common import BUDGET_LABELS, TIMELINE_LABELS
from scrm.services.customer_admin import show_phone
from scrm.services.errors import Invalid, NotFound
from scrm.services.lead_intent import IntentForm, write
from scrm.services.normalize_base import N_
from scrm.services.scope import Perm, Scope
from scrm.wechat.render import translations

PURPOSE = "lead_invite"
INVITE_GAP = timedelta(days=14)
WINDOW = timedelta(hours=48)
LIMIT = 200


@dataclass(frozen=True)
class Filters:
    """The list's filters (all optional)."""

    min_score: int = 0
    timeline: str = ""
    model: str = ""
    not_invited: bool = False
    dealer_id: int | None = None
    follower_id: int | None = None


@dataclass
class LeadRow:
    """One prospect as the list shows it."""

    follower_id: int
    name: str
    customer_id: int | None
    phone: str
    score: int
    reasons: list[str]
    models: list[str]
    last_interaction_at: datetime | None
    invited_at: datetime | None
    dealer_id: int | None
    window_open: bool
    intent: dict[str, str] = field(default_factory=dict)
    handle: str = ""        # who an unbound follower is: the short openid...
    scene: str = ""         # ...and where they came from (a SceneKind value)


def reason_text(part: dict[str, Any]) -> str:
    """One score part in the user's words ('' for parts not worth a word)."""
    code, value = part.get("code"), part.get("value")
    if code == "menu_taps":
        return gettext("Tapped the menu %(n)s times", n=value)
    if code == "link_clicks":
        return gettext("Opened our links %(n)s times", n=value)
    if code == "recent_message":
        return gettext("Messaged us this week")
    if code == "distance":
        return gettext("%(km)s km from the dealer", km=value)
    if code == "referred":
        return gettext("Referred by a friend")
    if code == "test_drive_done":
        return gettext("Test drive already done")
    if code == "timeline" and value == BuyTimeline.JUST_LOOKING:
        return gettext("Just looking")
    if code == "timeline" and value in set(BuyTimeline):
        return gettext("Plans to buy: %(when)s", when=gettext(TIMELINE_LABELS[BuyTimeline(value)]))
    if code == "budget":
        labels = {k.value: v for k, v in BUDGET_LABELS.items()}
        return gettext("Budget %(budget)s", budget=gettext(labels.get(str(value), str(value))))
    return ""


def _query(scope: Scope, flt: Filters) -> sa.Select[LeadScore, Follower, Customer, LeadIntent]:
    stmt = (sa.select(LeadScore, Follower, Customer, LeadIntent)
            .join(Follower, Follower.id == LeadScore.follower_id)
            .outerjoin(Customer, Customer.id == LeadScore.customer_id)
            .outerjoin(LeadIntent, LeadIntent.follower_id == LeadScore.follower_id))
    stmt = scope.apply(stmt, LeadScore)
    if flt.dealer_id is not None and scope.all_dealers:
        stmt = stmt.where(LeadScore.dealer_id == flt.dealer_id)
    if flt.follower_id is not None:
        stmt = stmt.where(LeadScore.follower_id == flt.follower_id)
    if flt.min_score:
        stmt = stmt.where(LeadScore.score >= flt.min_score)
    if flt.timeline in set(BuyTimeline):
        stmt = stmt.where(LeadIntent.timeline == BuyTimeline(flt.timeline))
    if flt.not_invited:
        since = db.utcnow() - INVITE_GAP
        stmt = stmt.where(sa.or_(LeadScore.invited_at.is_(None), LeadScore.invited_at < since))
    return stmt.order_by(LeadScore.score.desc(), LeadScore.follower_id)


def _handle(f: Follower) -> str:
    """`oGEN0007…7e2d`: enough for staff to find the follower on the followers page and in chat."""
    return f"{f.openid[:8]}…{f.openid[-4:]}" if len(f.openid) > 14 else f.openid


def list_leads(s: Session, scope: Scope, flt: Filters, limit: int = LIMIT) -> list[LeadRow]:
    """The best leads in scope, by score, filtered."""
    scope.require(Perm.ANALYTICS_VIEW)
    now = db.utcnow()
    out: list[LeadRow] = []
    wanted = flt.model.strip().lower()
    for score, f, customer, intent in s.execute(_query(scope, flt).limit(limit * 5 if wanted else limit)):
        models = list(score.models or [])
        if wanted and not any(wanted in m.lower() for m in models):
            continue
        name = (customer.name if customer and customer.name else "") or f.remark or gettext("WeChat follower")
        reasons = [t for p in (score.parts or [])[:5] if (t := reason_text(p))]
        reasons[1:1] = [gettext("Asked about %(model)s", model=m) for m in models[:2]]
        out.append(LeadRow(
            follower_id=f.id, name=name, customer_id=customer.id if customer else None,
            phone=show_phone(scope, customer.mobile) if customer else "", score=score.score, reasons=reasons,
            models=models, last_interaction_at=f.last_interaction_at, invited_at=score.invited_at,
            dealer_id=score.dealer_id,
            handle=_handle(f), scene=f.scene_kind.value if f.scene_kind else "",
            window_open=f.last_interaction_at is not None and f.last_interaction_at >= now - WINDOW,
            intent={"model": intent.model, "budget": intent.budget.value if intent.budget else "",
                    "timeline": intent.timeline.value if intent.timeline else "", "note": intent.note}
            if intent else {}))
        if len(out) >= limit:
            break
    return out


def to_csv(rows: list[LeadRow]) -> str:
    """The list as CSV text."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([gettext("Name"), gettext("Phone"), gettext("Score"), gettext("Models"), gettext("Why"),
                gettext("Last interaction"), gettext("Invited at")])
    for r in rows:
        w.writerow([r.name, r.phone, r.score, " / ".join(r.models), "; ".join(r.reasons),
                    r.last_interaction_at.isoformat() if r.last_interaction_at else "",
                    r.invited_at.isoformat() if r.invited_at else ""])
    return buf.getvalue()


def _lead(s: Session, scope: Scope, follower_id: int) -> tuple[LeadScore, Follower]:
    scope.require(Perm.ANALYTICS_VIEW)
    score = s.scalar(scope.apply(sa.select(LeadScore), LeadScore).where(LeadScore.follower_id == follower_id))
    if score is None:
        raise NotFound()
    follower = s.get(Follower, follower_id)
    assert follower is not None
    return score, follower


def booking_link(s: Session, account_id: int, dealer_id: int | None, model: str) -> str:
    """The H5 test-drive booking page of the dealer (the model preselected when it has a demo car)."""
    slug = settings_for_id(account_id).slug
    url = runtime.get().settings.app.public_url.rstrip("/") + f"/h5/{slug}/book"
    service = s.scalar(sa.select(ServiceType.id).where(ServiceType.dealer_id == dealer_id,
                                                       ServiceType.kind == ServiceKind.TEST_DRIVE,
                                                       ServiceType.active.is_(True)).order_by(ServiceType.id))
    if dealer_id is None or service is None:
        return url
    query: dict[str, Any] = {"dealer": dealer_id, "service": service}
    if model:
        query["model"] = model
    return f"{url}?{urlencode(query)}"


# The invitation the follower receives, in the account's language (Chinese by default).
INVITE = N_("Hello! %(place)s invites you to a test drive, to feel the car for yourself. "
            "Pick a time here: %(link)s  Questions? Just reply to this message.")
INVITE_MODEL = N_("Hello! %(place)s invites you to test drive the %(model)s, to feel it for yourself. "
                  "Pick a time here: %(link)s  Questions? Just reply to this message.")


def invite(scope: Scope, staff: StaffUser, follower_id: int, ip: str = "") -> int:
    """Enqueue a test-drive invitation as a custom message; the delivery id. Invalid when not allowed now."""
    with db.transaction() as s:
        score, follower = _lead(s, scope, follower_id)
        now = db.utcnow()
        if score.invited_at is not None and score.invited_at >= now - INVITE_GAP:
            raise Invalid(N_("This lead was invited less than 14 days ago."))
        if follower.last_interaction_at is None or follower.last_interaction_at < now - WINDOW:
            raise Invalid(N_("WeChat only allows a template message to followers who have not written in the "
                             "last 48 hours. Make a task so an advisor calls them instead."))
        dealer = s.get(Dealer, score.dealer_id) if score.dealer_id else None
        model = (score.models or [""])[0]
        link = booking_link(s, follower.account_id, score.dealer_id, model)
        account = settings_for_id(follower.account_id)
        place = dealer.name if dealer else account.name
        tr = translations(str(getattr(account, "language", "zh") or "zh"))
        text = tr.gettext(INVITE_MODEL if model else INVITE) % {"place": place, "model": model, "link": link}
        local = now.astimezone(runtime.get().settings.app.tz).date()
        delivery = enqueue(s, account_id=follower.account_id, dedupe_key=f"lead_invite:{follower.id}:{local}",
                           channel=Channel.CUSTOM, payload={"msgtype": "text", "text": {"content": text}},
                           follower_id=follower.id, openid=follower.openid, dealer_id=score.dealer_id,
                           purpose=PURPOSE)
        if delivery is None:
            raise Invalid(N_("This lead was invited less than 14 days ago."))
        score.invited_at = now
        audit.record(s, staff=staff, action="lead.invite", target_type="follower", target_id=follower.id,
                     detail={"delivery_id": delivery, "model": model}, ip=ip, dealer_id=score.dealer_id)
        return delivery


def make_task(scope: Scope, staff: StaffUser, follower_id: int, today: date, ip: str = "") -> int | None:
    """Make an invitation task for an advisor (once a month per lead); the task id, None if it exists."""
    with db.transaction() as s:
        score, follower = _lead(s, scope, follower_id)
        if score.dealer_id is None:
            raise Invalid(N_("This lead has no dealer yet, so no advisor can take the task."))
        task = tasks.create(s, tasks.NewTask(
            account_id=follower.account_id, dealer_id=score.dealer_id, rule=TaskRule.LEAD_INVITE,
            dedupe_key=f"lead_invite:task:{follower.id}:{today:%Y-%m}", title=N_("Invite to a test drive"),
            due_on=today + timedelta(days=1), customer_id=score.customer_id, follower_id=follower.id,
            detail={"score": score.score, "models": list(score.models or [])}, created_by=staff.id))
        if task is not None:
            audit.record(s, staff=staff, action="lead.task", target_type="task", target_id=task,
                         detail={"follower_id": follower.id}, ip=ip, dealer_id=score.dealer_id)
        return task


def edit_intent(scope: Scope, staff: StaffUser, follower_id: int, form: IntentForm, ip: str = "") -> None:
    """Staff set a prospect's intent (source 'staff'); Invalid names the bad field."""
    with db.transaction() as s:
        _, follower = _lead(s, scope, follower_id)
        row = write(s, follower, form, source="staff", staff_id=staff.id)
        audit.record(s, staff=staff, action="lead.intent", target_type="follower", target_id=follower.id,
                     detail={"model": row.model, "budget": str(row.budget), "timeline": str(row.timeline)},
                     ip=ip, dealer_id=row.dealer_id)
