"""The built-in journeys of each dealer, for staff: created on first sight, enabled, worded, and watched.

Every dealer has one row per kind (scrm.services.journey_defs), created disabled with the default wording in
the account's language. Viewing needs a login (dealer staff see their own dealer's journeys); changing needs
Perm.JOURNEYS_EDIT and is audited. The work itself is scrm.jobs.journey_jobs.tick's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db, runtime
from scrm.db import utcnow
from scrm.models import (
    Account,
    CampaignChannel,
    Customer,
    Dealer,
    Delivery,
    DeliveryStatus,
    Journey,
    JourneyEnrolment,
    JourneyKind,
    StaffUser,
)
from scrm.services import audit, compose, journey_defs, journey_render  # noqa: F401  (registers the renderer)
from scrm.services.errors import Forbidden, Invalid
from scrm.services.journey_defs import DEFS, JourneyDef
from scrm.services.journey_enrol import insert
from scrm.services.normalize_base import N_
from scrm.services.referrals import mask_name
from scrm.services.scope import Perm, Scope
from scrm.wechat.render import translations

audit.ACTIONS.update({
    "journey.update": N_("Edited a journey"),
    "journey.enable": N_("Enabled a journey"),
    "journey.disable": N_("Disabled a journey"),
})
CHANNELS = (CampaignChannel.AUTO, CampaignChannel.CUSTOM, CampaignChannel.TEMPLATE)
PENDING = (DeliveryStatus.PENDING, DeliveryStatus.HELD, DeliveryStatus.SENDING)


@dataclass
class StepStats:
    """What became of one step's messages."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0


@dataclass
class JourneyStats:
    """Per step {sent, delivered, failed, skipped, pending}; enrolments active and ended by reason."""

    steps: dict[str, StepStats]
    active: int = 0
    exited: dict[str, int] = field(default_factory=dict)
    sent_30d: int = 0

    @property
    def exited_total(self) -> int:
        """Enrolments ended by an exit rule (not those that simply got every step)."""
        return sum(n for reason, n in self.exited.items() if reason != "completed")


@dataclass(frozen=True)
class JourneyRow:
    """A journey of the listing with its definition and figures."""

    journey: Journey
    definition: JourneyDef
    stats: JourneyStats


@dataclass(frozen=True)
class EnrolmentRow:
    """One recent enrolment, for the journey page."""

    id: int
    customer_id: int | None
    customer: str
    occurrence: str
    entered_at: datetime
    steps_done: int
    steps_total: int
    exited_at: datetime | None
    exit_reason: str


def default_steps(definition: JourneyDef, language: str) -> list[dict[str, Any]]:
    """The definition's default wording in `language`, as Journey.steps."""
    tr = translations(language)
    return [{"key": st.key, "message": {"kind": "text", "text": tr.gettext(st.text)}} for st in definition.steps]


def _language(s: Session, account_id: int) -> str:
    slug = s.scalar(sa.select(Account.slug).where(Account.id == account_id))
    account = runtime.get().settings.account(slug) if slug else None
    return account.language if account is not None else runtime.get().settings.app.default_language


def ensure(s: Session, account_id: int, dealer_id: int) -> list[Journey]:
    """The dealer's journeys, one per kind, creating the missing ones disabled with the default wording."""
    have = set(s.scalars(sa.select(Journey.kind).where(Journey.dealer_id == dealer_id)))
    missing = [k for k in DEFS if k not in have]
    if missing:
        language, now = _language(s, account_id), utcnow()
        rows = [dict(account_id=account_id, dealer_id=dealer_id, kind=k, enabled=False,
                     channel=CampaignChannel.AUTO, settings={sd.key: sd.default for sd in DEFS[k].settings},
                     steps=default_steps(DEFS[k], language), created_at=now, updated_at=now) for k in missing]
        s.execute(insert(s, Journey).values(rows).on_conflict_do_nothing())
    order = {k: i for i, k in enumerate(DEFS)}
    found = list(s.scalars(sa.select(Journey).where(Journey.dealer_id == dealer_id)))
    return sorted(found, key=lambda j: order[JourneyKind(j.kind)])


def _dealer(scope: Scope, dealer_id: int | None) -> int:
    chosen = dealer_id if dealer_id is not None else scope.dealer_id
    if chosen is None or not scope.dealer_ok(chosen):
        raise Forbidden()
    return chosen


def listing(scope: Scope, dealer_id: int | None) -> list[JourneyRow]:
    """The dealer's eight journeys with their figures (created on first sight)."""
    chosen = _dealer(scope, dealer_id)
    with db.transaction() as s:
        scope.get(s, Dealer, chosen)
        journeys = ensure(s, scope.account_id, chosen)
        rows = [JourneyRow(j, DEFS[JourneyKind(j.kind)], _stats(s, j)) for j in journeys]
        s.expunge_all()
    return rows


def get(scope: Scope, journey_id: int) -> tuple[Journey, JourneyDef]:
    """One journey in scope and its definition."""
    with db.transaction() as s:
        j = scope.get(s, Journey, journey_id)
        s.expunge(j)
    return j, DEFS[JourneyKind(j.kind)]


def _normalise(message: Any, channel: CampaignChannel) -> dict[str, Any]:
    """compose.normalise; AUTO without a template is a text only (sent inside the 48-hour window)."""
    tpl = message.get("template") if isinstance(message, dict) else None
    if channel == CampaignChannel.AUTO and not (isinstance(tpl, dict) and str(tpl.get("template_id") or "").strip()):
        return compose.normalise(message, CampaignChannel.CUSTOM)
    return compose.normalise(message, channel)


def _setting(sd: journey_defs.SettingDef, raw: Any) -> Any:
    name = f"setting_{sd.key}"
    if sd.kind == "int":
        try:
            value = int(str(raw).strip())
        except ValueError:
            value = None
        if value is None or (sd.min is not None and value < sd.min) or (sd.max is not None and value > sd.max):
            raise Invalid("Enter a whole number from %(min)s to %(max)s.", field=name, min=sd.min, max=sd.max)
        return value
    if sd.kind == "time":
        t = journey_defs.parse_time(str(raw or ""))
        if t is None:
            raise Invalid("Enter a time as HH:MM, e.g. 09:30.", field=name)
        return f"{t:%H:%M}"
    items = raw if isinstance(raw, list | tuple) else str(raw or "").replace("，", ",").split(",")
    dates = sorted({str(x).strip() for x in items if str(x).strip()})
    if not dates or len(dates) > 12 or not all(journey_defs.valid_mmdd(x) for x in dates):
        raise Invalid("Enter one to twelve dates as MM-DD, separated by commas.", field=name)
    return dates


def _actor(s: Session, scope: Scope) -> StaffUser | None:
    return s.get(StaffUser, scope.staff_id) if scope.staff_id is not None else None


def update(scope: Scope, journey_id: int, *, enabled: bool, channel: str, settings: dict[str, Any],
           steps: dict[str, dict[str, Any]]) -> Journey:
    """Save a journey's switch, channel, settings and wording; Invalid names the field at fault."""
    scope.require(Perm.JOURNEYS_EDIT)
    try:
        chan = CampaignChannel(channel)
    except ValueError:
        chan = CampaignChannel.MASS
    if chan not in CHANNELS:
        raise Invalid("Choose how the messages are sent.", field="channel")
    with db.transaction() as s:
        j = scope.get(s, Journey, journey_id)
        d = DEFS[JourneyKind(j.kind)]
        values = {sd.key: _setting(sd, settings.get(sd.key, j.settings.get(sd.key, sd.default)))
                  for sd in d.settings}
        current = {st.get("key"): st.get("message") for st in j.steps}
        words = []
        for st in d.steps:
            try:
                message = _normalise(steps.get(st.key, current.get(st.key)), chan)
            except Invalid as exc:
                raise Invalid(exc.message, field=f"s_{st.key}_{exc.field}", **exc.params) from exc
            words.append({"key": st.key, "message": message})
        j.enabled, j.channel, j.settings, j.steps = bool(enabled), chan, values, words
        j.updated_by, j.updated_at = scope.staff_id, utcnow()
        audit.record(s, staff=_actor(s, scope), action="journey.update", target_type="journey", target_id=j.id,
                     detail={"kind": j.kind.value, "enabled": j.enabled, "channel": chan.value, "settings": values},
                     account_id=scope.account_id, dealer_id=j.dealer_id)
        s.flush()
        s.expunge(j)
    return j


def set_enabled(scope: Scope, journey_id: int, enabled: bool) -> Journey:
    """Switch a journey on or off (off: no new enrolments, unsent steps are skipped)."""
    scope.require(Perm.JOURNEYS_EDIT)
    with db.transaction() as s:
        j = scope.get(s, Journey, journey_id)
        j.enabled, j.updated_by, j.updated_at = bool(enabled), scope.staff_id, utcnow()
        audit.record(s, staff=_actor(s, scope), action="journey.enable" if enabled else "journey.disable",
                     target_type="journey", target_id=j.id, detail={"kind": j.kind.value},
                     account_id=scope.account_id, dealer_id=j.dealer_id)
        s.flush()
        s.expunge(j)
    return j


def _stats(s: Session, j: Journey) -> JourneyStats:
    d = DEFS[JourneyKind(j.kind)]
    out = JourneyStats(steps={st.key: StepStats() for st in d.steps})
    for arm, status, n in s.execute(sa.select(Delivery.arm, Delivery.status, sa.func.count())
                                    .where(Delivery.journey_id == j.id).group_by(Delivery.arm, Delivery.status)):
        st = out.steps.setdefault(str(arm), StepStats())
        status = DeliveryStatus(status)
        if status == DeliveryStatus.SENT:
            st.sent += n
        elif status == DeliveryStatus.DELIVERED:
            st.sent, st.delivered = st.sent + n, st.delivered + n
        elif status in (DeliveryStatus.FAILED, DeliveryStatus.UNKNOWN):
            st.failed += n
        elif status in PENDING:
            st.pending += n
        else:
            st.skipped += n
    for reason, n in s.execute(sa.select(JourneyEnrolment.exit_reason, sa.func.count())
                               .where(JourneyEnrolment.journey_id == j.id)
                               .group_by(JourneyEnrolment.exit_reason)):
        if reason:
            out.exited[str(reason)] = int(n)
        else:
            out.active = int(n)
    out.sent_30d = int(s.scalar(sa.select(sa.func.count()).select_from(Delivery).where(
        Delivery.journey_id == j.id, Delivery.status.in_([DeliveryStatus.SENT, DeliveryStatus.DELIVERED]),
        Delivery.sent_at >= utcnow() - timedelta(days=30))) or 0)
    return out


def stats(scope: Scope, journey_id: int) -> JourneyStats:
    """What became of the journey's messages, per step, and of its enrolments."""
    with db.transaction() as s:
        return _stats(s, scope.get(s, Journey, journey_id))


def recent_enrolments(scope: Scope, journey_id: int, limit: int = 50) -> list[EnrolmentRow]:
    """The latest enrolments, newest first; names masked unless the role sees customers' details."""
    with db.transaction() as s:
        j = scope.get(s, Journey, journey_id)
        total = len(DEFS[JourneyKind(j.kind)].steps)
        rows = s.execute(sa.select(JourneyEnrolment, Customer.name)
                         .outerjoin(Customer, Customer.id == JourneyEnrolment.customer_id)
                         .where(JourneyEnrolment.journey_id == j.id)
                         .order_by(JourneyEnrolment.entered_at.desc(), JourneyEnrolment.id.desc()).limit(limit)).all()
        full = scope.can(Perm.CUSTOMER_PHONES)
        return [EnrolmentRow(e.id, e.customer_id, (name or "") if full else mask_name(name or ""), e.occurrence,
                             e.entered_at, e.steps_done, total, e.exited_at, e.exit_reason) for e, name in rows]
