"""Journey rows get their message when they are sent, after a last look at the journey and the exit rule.

A step written this morning for 10:00 is skipped ("exited: ...") when the journey was disabled since, or the
owner did what the journey asks for (booked the service, renewed the insurance, bought the car) meanwhile:
the same SQL condition as the tick's exit check, evaluated for this one enrolment.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db, runtime
from scrm.db import utcnow
from scrm.models import (
    Account,
    CampaignChannel,
    Journey,
    JourneyEnrolment,
    JourneyKind,
    Vehicle,
)
from scrm.outbox.claim import Claimed
from scrm.outbox.send import register_renderer
from scrm.services import compose, links
from scrm.services.compose_context import contexts, vehicle_context
from scrm.services.journey_enrol import exit_rule
from scrm.services.journey_steps import COMPLETED


def exit_reason(s: Session, j: Journey, e: JourneyEnrolment) -> str:
    """Why enrolment `e` must not get more messages ('' when it may); records a newly met exit."""
    if e.exited_at is not None and e.exit_reason not in ("", COMPLETED):
        return e.exit_reason
    rule = exit_rule(JourneyKind(j.kind))
    if rule is None:
        return ""
    reason, condition = rule
    if not s.scalar(sa.select(condition).select_from(JourneyEnrolment).where(JourneyEnrolment.id == e.id)):
        return ""
    e.exited_at = e.exited_at or utcnow()
    e.exit_reason = reason
    return reason


def _language(s: Session, account_id: int) -> str:
    slug = s.scalar(sa.select(Account.slug).where(Account.id == account_id))
    account = runtime.get().settings.account(slug) if slug else None
    return account.language if account is not None else runtime.get().settings.app.default_language


def _tokens(account_id: int, journey_id: int, urls: list[str]) -> dict[str, str]:
    """Tracked-link tokens of the step's links (two workers may create one at once: the loser reads it)."""
    if not urls:
        return {}
    for attempt in range(2):
        try:
            with db.transaction() as s:
                return links.ensure(s, account_id, urls, journey_id=journey_id)
        except sa.exc.IntegrityError:
            if attempt:
                raise
    return {}


def _prepare(row: Claimed) -> tuple[dict[str, Any], dict[str, Any], CampaignChannel, int, int] | str:
    spec = row.payload["render"]
    with db.transaction() as s:
        j = s.get(Journey, int(spec["journey_id"]))
        if j is None:
            return "stale: journey deleted"
        if not j.enabled:
            return "exited: journey disabled"
        e = s.get(JourneyEnrolment, int(spec.get("enrolment_id") or 0))
        if e is None:
            return "stale: enrolment deleted"
        reason = exit_reason(s, j, e)
        if reason:
            return f"exited: {reason}"
        message = next((st.get("message") for st in j.steps if st.get("key") == spec.get("step")), None)
        if not isinstance(message, dict) or row.follower_id is None:
            return "invalid: no such step"
        today = utcnow().astimezone(runtime.get().settings.app.tz).date()
        ctx = contexts(s, [(e.customer_id, row.follower_id)], dealer_id=j.dealer_id, today=today,
                       language=_language(s, j.account_id))[row.follower_id]
        vehicle_id = (e.context or {}).get("vehicle_id")
        v = s.get(Vehicle, int(vehicle_id)) if vehicle_id else None
        if v is not None and v.customer_id == e.customer_id:   # the car this occurrence is about
            ctx["vehicle"] = vehicle_context(v)
        return message, ctx, CampaignChannel(j.channel), j.account_id, j.id


def render_row(row: Claimed) -> dict[str, Any] | str:
    """The payload for one journey row, or the reason to skip it."""
    prepared = _prepare(row)
    if isinstance(prepared, str):
        return prepared
    message, ctx, channel, account_id, journey_id = prepared
    tokens = _tokens(account_id, journey_id, compose.urls(message))

    def link(url: str) -> str:
        token = tokens.get(url)
        return links.tracked_url(token, row.id) if token else url

    payload = compose.render(message, channel, ctx, link)
    problems = compose.problems(payload, channel)
    if problems and channel == CampaignChannel.AUTO:   # drop the part that breaks a limit, send the other
        custom_ok = payload.get("custom") and not compose.problems({"custom": payload["custom"]}, channel)
        payload = {"custom": payload["custom"], "template": None} if custom_ok else \
            {"custom": None, "template": payload.get("template")}
        problems = compose.problems(payload, channel) or ([] if custom_ok or payload["template"] else problems)
    if problems:
        text, params = problems[0]
        return "too_long: " + (text % params)
    return payload


register_renderer("journey", render_row)
