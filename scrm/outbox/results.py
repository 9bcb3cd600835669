"""WeChat's reports on sends it accepted: TEMPLATESENDJOBFINISH and MASSSENDJOBFINISH (WECHAT.md 2)."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import sqlalchemy as sa

from scrm import db, metrics
from scrm.db import utcnow
from scrm.models import Delivery, DeliveryStatus

log = logging.getLogger(__name__)
_ERR = re.compile(r"^err\((-?\d+)\)$")


def _template_status(status: str) -> tuple[DeliveryStatus | None, str]:
    """`success` -> delivered; `failed:user block` / `failed: system failed` (note the space) -> failed."""
    text = status.strip()
    if text == "success":
        return DeliveryStatus.DELIVERED, "success"
    if text.lower().startswith("failed"):
        reason = text.split(":", 1)[1].strip() if ":" in text else "failed"
        return DeliveryStatus.FAILED, re.sub(r"\W+", "_", reason.lower()).strip("_") or "failed"
    return None, re.sub(r"\W+", "_", text.lower()).strip("_")[:64]


def _update(account_id: int, msgid: str, channel: str, values: dict[str, Any]) -> bool:
    if not msgid:
        return False
    with db.transaction() as s:
        result = s.execute(sa.update(Delivery)
                           .where(Delivery.account_id == account_id, Delivery.wechat_msgid == msgid[:32],
                                  Delivery.wechat_msgid != "",   # the partial index's predicate
                                  Delivery.channel_used == channel)
                           .values(updated_at=utcnow(), **values)
                           .execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def record_template_result(account_id: int, msgid: str, status: str) -> bool:
    """Apply a TEMPLATESENDJOBFINISH; False when no template delivery of the account has this msgid."""
    new_status, result = _template_status(status)
    values: dict[str, Any] = {"result": result[:64]}
    if new_status is not None:
        values["status"] = new_status
    if new_status == DeliveryStatus.FAILED:
        values["error"] = f"WeChat reported: {status.strip()}"[:255]
    matched = _update(account_id, msgid, "template", values)
    if matched and new_status is not None:
        metrics.DELIVERIES.labels(channel="template", status=f"report_{new_status.value}").inc()
    elif not matched:
        log.info("TEMPLATESENDJOBFINISH for unknown msgid %s (account %s)", msgid, account_id)
    return matched


_COUNT_KEYS = ("total", "filter", "sent", "error")


def _counts(counts: dict[str, int]) -> dict[str, int]:
    """TotalCount / total_count / total -> total, and likewise filter, sent, error."""
    out: dict[str, int] = {}
    for key, value in counts.items():
        short = re.sub(r"[_\s]", "", key.lower().removesuffix("count"))
        if short in _COUNT_KEYS:
            try:
                out[short] = int(value)
            except (TypeError, ValueError):
                continue
    return out


def record_mass_result(account_id: int, msgid: str, status: str, counts: dict[str, int]) -> bool:
    """Apply a MASSSENDJOBFINISH (`send success` / `send fail` / `err(num)`), keeping the counts in `result`."""
    text = status.strip()
    summary = _counts(counts)
    values: dict[str, Any] = {"result": json.dumps(summary, separators=(",", ":"))[:64]}
    if text == "send success":
        values["status"] = DeliveryStatus.DELIVERED
    else:
        values["status"] = DeliveryStatus.FAILED
        m = _ERR.match(text)
        if m:
            values["error_code"] = int(m.group(1))
        values["error"] = f"WeChat reported: {text}"[:255]
    matched = _update(account_id, msgid, "mass", values)
    if matched:
        metrics.DELIVERIES.labels(channel="mass", status=f"report_{values['status'].value}").inc()
    else:
        log.info("MASSSENDJOBFINISH for unknown msg_id %s (account %s)", msgid, account_id)
    return matched
