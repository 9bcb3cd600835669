"""The dealer-system API's bindings: which followers are linked to which customers of the key's dealer.

Bindings are deleted when a follower unbinds, so the list holds the links in force now; a system that
must notice unbinding re-reads the whole list (no `since`) and compares. Pages are keyed on
(bound_at, id), so paging is stable while new bindings arrive.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from scrm import db
from scrm.models import Customer, CustomerBinding, Follower
from scrm.services.api_keys import ApiCaller
from scrm.services.errors import Invalid

DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def parse_since(raw: str | None) -> datetime | None:
    """An ISO 8601 time (a naive one is UTC); Invalid when it is not one."""
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise Invalid("`since` must be an ISO 8601 time, such as 2024-03-05T08:00:00Z.", field="since") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def encode_cursor(bound_at: datetime, binding_id: int) -> str:
    """The opaque cursor that continues after this binding."""
    text = f"{_utc(bound_at).isoformat()}|{binding_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> tuple[datetime, int]:
    """The (bound_at, id) a cursor continues after; Invalid for anything we did not hand out."""
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        when, _, ident = text.partition("|")
        value, binding_id = datetime.fromisoformat(when), int(ident)
        if value.tzinfo is None or not 0 < binding_id < 2**31:
            raise ValueError(text)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid("`cursor` is not a cursor this API handed out.", field="cursor") from exc
    return value, binding_id


def list_bindings(caller: ApiCaller, *, since: datetime | None, cursor: str | None,
                  limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """One page of the dealer's bindings, oldest first, and the cursor of the next page (None at the end)."""
    limit = max(1, min(limit, MAX_LIMIT))
    stmt = (sa.select(CustomerBinding.id, CustomerBinding.bound_at, CustomerBinding.method,
                      CustomerBinding.customer_id, Customer.external_id, Follower.openid, Follower.subscribed)
            .join(Customer, Customer.id == CustomerBinding.customer_id)
            .join(Follower, Follower.id == CustomerBinding.follower_id)
            .where(CustomerBinding.dealer_id == caller.dealer_id, CustomerBinding.account_id == caller.account_id,
                   Customer.dealer_id == caller.dealer_id, Customer.erased_at.is_(None)))
    if since is not None:
        stmt = stmt.where(CustomerBinding.bound_at >= since)
    if cursor:
        after, after_id = decode_cursor(cursor)
        stmt = stmt.where(sa.or_(CustomerBinding.bound_at > after,
                                 sa.and_(CustomerBinding.bound_at == after, CustomerBinding.id > after_id)))
    rows = db.session.execute(stmt.order_by(CustomerBinding.bound_at, CustomerBinding.id).limit(limit + 1)).all()
    page = rows[:limit]
    items = [{"id": r.id, "customer_id": r.customer_id, "customer_external_id": r.external_id, "openid": r.openid,
              "subscribed": bool(r.subscribed), "bound_at": _utc(r.bound_at).isoformat(), "method": r.method}
             for r in page]
    more = len(rows) > limit
    return {"bindings": items, "next_cursor": encode_cursor(page[-1].bound_at, page[-1].id) if more else None}


def _utc(value: datetime) -> datetime:
    """Stored times are UTC; SQLite hands them back naive."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
