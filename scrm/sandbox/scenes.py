"""The account's QR scenes (configured by staff) that the simulator offers to follow through."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from scrm import db
from scrm.models import QrScene
from scrm.services.accounts import account_id

log = logging.getLogger(__name__)
MAX_SCENES = 200


def scenes_for(slug: str) -> list[dict[str, str]]:
    """`{"scene", "label", "kind"}` for each QrScene row of the account (empty if the database is away)."""
    try:
        acc_id = account_id(slug)
        with db.transaction() as s:
            rows = s.execute(sa.select(QrScene.scene, QrScene.label, QrScene.kind)
                             .where(QrScene.account_id == acc_id).order_by(QrScene.id).limit(MAX_SCENES)).all()
    except SQLAlchemyError as exc:   # the standalone sandbox may run without the product's database
        log.warning("sandbox: cannot list QR scenes of %s: %s", slug, type(exc).__name__)
        return []
    return [{"scene": r.scene, "label": r.label, "kind": str(r.kind)} for r in rows]
