"""Materialise the journeys' due steps: one INSERT ... SELECT of deliveries per step, sent once per occurrence.

A step of an open enrolment is due when its day (anchor + the step's offset) has come. Its delivery has the
dedupe key `j:<journey>:<step>:<occurrence>:<follower>`, so any number of ticks write it once. It goes out on
its day at the journey's send time; a step first seen more than LATE_DAYS after its day is written as
skipped ("late"), never sent late. `steps_done` counts the steps written, and an enrolment whose steps are
all written is closed as "completed" (its last message may still be waiting for its hour).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm.models import Channel, Delivery, DeliveryStatus, Follower, Journey, JourneyEnrolment, JourneyKind
from scrm.services import journey_defs
from scrm.services.journey_enrol import Env, insert, json_object, text

PURPOSE = "journey"
COMPLETED = "completed"
DELIVERY_COLUMNS = ["account_id", "dealer_id", "follower_id", "openid", "dedupe_key", "channel", "purpose",
                    "payload", "status", "attempts", "next_try_at", "created_at", "updated_at", "claimed_by",
                    "channel_used", "wechat_msgid", "error", "result", "journey_id", "arm"]


def send_time(j: Journey) -> time:
    """The journey's local send time (setting "send_at")."""
    d = journey_defs.DEFS[JourneyKind(j.kind)]
    return journey_defs.parse_time(str(journey_defs.setting(j.settings, d, "send_at"))) or time(10, 0)


def at(day: date, t: time, env: Env) -> datetime:
    """A local day and time as a UTC instant."""
    return datetime.combine(day, t, tzinfo=env.tz).astimezone(UTC)


def _payload(env: Env, j: Journey, step: str, e: Any) -> Any:
    render = json_object(env, kind=text("journey"), journey_id=sa.cast(sa.literal(j.id), sa.Integer), step=text(step),
                         enrolment_id=e.c.id, customer_id=e.c.customer_id)
    if env.postgres:
        return sa.func.json_build_object(text("render"), render)
    return sa.func.json_object("render", sa.func.json(render))


def _write_step(s: Session, j: Journey, env: Env, index: int, step: journey_defs.StepDef) -> int:
    e = JourneyEnrolment.__table__.alias("e")
    f = Follower.__table__.alias("f")
    due = env.today - timedelta(days=step.day)                     # enrolments anchored on or before this day
    late = due - timedelta(days=journey_defs.LATE_DAYS)            # ... and before this one, too late
    t = send_time(j)
    when = sa.case(*[(e.c.anchor == due - timedelta(days=k), sa.literal(at(env.today - timedelta(days=k), t, env)))
                     for k in range(journey_defs.LATE_DAYS + 1)], else_=sa.literal(env.now))
    too_late = e.c.anchor < late
    key = sa.literal(f"j:{j.id}:{step.key}:") + e.c.occurrence + ":" + sa.cast(e.c.follower_id, sa.String)
    rows = (sa.select(sa.literal(j.account_id), sa.literal(j.dealer_id), e.c.follower_id, f.c.openid, key,
                      sa.literal(Channel(j.channel.value).value), sa.literal(PURPOSE), _payload(env, j, step.key, e),
                      sa.case((too_late, DeliveryStatus.SKIPPED.value), else_=DeliveryStatus.PENDING.value),
                      sa.literal(0), when, sa.literal(env.now), sa.literal(env.now), sa.literal(""), sa.literal(""),
                      sa.literal(""), sa.case((too_late, "late: the step's day had passed"), else_=""),
                      sa.case((too_late, "late"), else_=""), sa.literal(j.id), sa.literal(step.key))
            .select_from(e.join(f, f.c.id == e.c.follower_id))
            .where(e.c.journey_id == j.id, e.c.exited_at.is_(None), e.c.steps_done <= index, e.c.anchor <= due))
    written = len(s.execute(insert(s, Delivery).from_select(DELIVERY_COLUMNS, rows)   # rowcount is -1 here
                            .on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Delivery.id)).all())
    s.execute(sa.update(JourneyEnrolment)
              .where(JourneyEnrolment.journey_id == j.id, JourneyEnrolment.exited_at.is_(None),
                     JourneyEnrolment.steps_done <= index, JourneyEnrolment.anchor <= due)
              .values(steps_done=index + 1).execution_options(synchronize_session=False))
    return written


def materialise(s: Session, j: Journey, env: Env) -> int:
    """Write the deliveries of every step now due in `j`'s open enrolments; return how many were new."""
    d = journey_defs.DEFS[JourneyKind(j.kind)]
    written = sum(_write_step(s, j, env, i, step) for i, step in enumerate(d.steps))
    s.execute(sa.update(JourneyEnrolment)
              .where(JourneyEnrolment.journey_id == j.id, JourneyEnrolment.exited_at.is_(None),
                     JourneyEnrolment.steps_done >= len(d.steps))
              .values(exited_at=env.now, exit_reason=COMPLETED).execution_options(synchronize_session=False))
    return written
