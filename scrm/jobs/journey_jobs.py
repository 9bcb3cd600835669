"""The journeys' tick (every 15 minutes): enrol, apply exits, write the due steps. It enqueues, never sends."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

import sqlalchemy as sa

from scrm import db, runtime
from scrm.db import utcnow
from scrm.models import Journey
from scrm.services import journey_render  # noqa: F401  (registers the send-time renderer)
from scrm.services.journey_enrol import Env, enrol, exit_due
from scrm.services.journey_steps import materialise

log = logging.getLogger(__name__)


def tick(now: datetime | None = None) -> dict[str, int]:
    """Run every enabled journey once; counts per kind ("<kind>.enrolled", ".deliveries", ".exited") and in all."""
    now = now or utcnow()
    tz = runtime.get().settings.app.tz
    counts: Counter[str] = Counter()
    with db.transaction() as s:
        ids = list(s.scalars(sa.select(Journey.id).where(Journey.enabled.is_(True)).order_by(Journey.id)))
    for journey_id in ids:
        try:
            with db.transaction() as s:   # one journey per transaction: a failure stops only that one
                j = s.get(Journey, journey_id)
                if j is None or not j.enabled:
                    continue
                env = Env(postgres=s.get_bind().dialect.name == "postgresql", today=now.astimezone(tz).date(),
                          now=now, tz=tz)
                kind = j.kind.value
                done = {"enrolled": enrol(s, j, env), "exited": exit_due(s, j, now),
                        "deliveries": materialise(s, j, env)}
            for what, n in done.items():
                counts[f"{kind}.{what}"] += n
                counts[what] += n
        except Exception:
            log.exception("journey %s: tick failed", journey_id)
            counts["errors"] += 1
    return dict(counts)
