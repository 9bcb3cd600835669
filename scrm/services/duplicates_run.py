"""Running detection from the admin page ("detect now").

Choice: no job table. A dealer of up to SYNC_LIMIT live customers is checked inside the request (under
two seconds at 20,000); a bigger one runs on a background thread of the web process. Either way a
Redis lock (one run per dealer at a time, across processes) guards it and the outcome is kept in Redis
for the page to show ("running: block mobile...", then the summary). A run lost to a restart just
leaves the lock to expire; running it again is harmless (detection is an idempotent upsert).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import sqlalchemy as sa

from scrm import db, runtime
from scrm.models import Customer, Dealer, StaffUser
from scrm.services import audit, duplicates, quality
from scrm.services.errors import DomainError
from scrm.services.scope import Perm, Scope

log = logging.getLogger(__name__)
SYNC_LIMIT = 20_000
LOCK_SECONDS = 900
STATUS_SECONDS = 7 * 86400


class DetectionBusy(DomainError):
    message = "Duplicate detection is already running for this dealer; the page shows when it is done."


def _keys(dealer_id: int) -> tuple[str, str]:
    rt = runtime.get()
    return rt.key("dedupe", "lock", dealer_id), rt.key("dedupe", "status", dealer_id)


def status(dealer_id: int) -> dict[str, Any] | None:
    """The last run's state for the page: {"state": "running"|"done"|"failed", "message", "summary", "at"}."""
    raw = runtime.get().redis.get(_keys(dealer_id)[1])
    return json.loads(raw) if raw else None


def _set_status(dealer_id: int, **values: Any) -> None:
    values["at"] = db.utcnow().isoformat()
    runtime.get().redis.set(_keys(dealer_id)[1], json.dumps(values, ensure_ascii=False), ex=STATUS_SECONDS)


def _run(dealer_id: int, own_thread: bool = False) -> dict[str, Any]:
    lock_key = _keys(dealer_id)[0]
    try:
        result = duplicates.detect(dealer_id, progress=lambda msg: _set_status(dealer_id, state="running",
                                                                              message=msg))
        summary = result.summary()
        quality.forget(dealer_id)
        _set_status(dealer_id, state="done", message="", summary=summary)
        return summary
    except Exception:
        log.exception("duplicate detection failed for dealer %s", dealer_id)
        _set_status(dealer_id, state="failed", message="", summary={})
        raise
    finally:
        runtime.get().redis.delete(lock_key)
        if own_thread:
            db.session.remove()


def start_detection(actor: StaffUser, dealer_id: int, ip: str = "") -> dict[str, Any]:
    """Run detection for a dealer now (inline when small, else in the background); returns the status."""
    scope = Scope.of(actor)
    scope.require(Perm.CUSTOMERS_MERGE)
    dealer = scope.get(db.session(), Dealer, dealer_id)
    live = db.session.scalar(sa.select(sa.func.count()).select_from(Customer).where(
        Customer.dealer_id == dealer.id, Customer.merged_into_id.is_(None), Customer.erased_at.is_(None))) or 0
    lock_key = _keys(dealer.id)[0]
    if not runtime.get().redis.set(lock_key, str(actor.id), nx=True, ex=LOCK_SECONDS):
        raise DetectionBusy()
    with db.transaction() as s:
        audit.record(s, staff=actor, action="quality.detect", target_type="dealer", target_id=dealer.id,
                     detail={"customers": int(live), "background": live > SYNC_LIMIT}, ip=ip, dealer_id=dealer.id)
    _set_status(dealer.id, state="running", message="", summary={})
    if live <= SYNC_LIMIT:
        _run(dealer.id)
    else:
        threading.Thread(target=_run, args=(dealer.id, True), name=f"scrm-dedupe-{dealer.id}", daemon=True).start()
    return status(dealer.id) or {}
