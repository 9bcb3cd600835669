"""The audit log: one append-only row per staff write and per sign-in event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db, runtime
from scrm.models import AuditLog, StaffUser
from scrm.services.paging import Page, paginate
from scrm.services.scope import Scope

# Every action the admin shell records; later areas add theirs (the audit page lists these).
ACTIONS: dict[str, str] = {
    "auth.login": "Signed in",
    "auth.logout": "Signed out",
    "auth.login_failed": "Failed sign-in",
    "auth.login_blocked": "Sign-in blocked (too many attempts)",
    "keyword.create": "Created a keyword reply",
    "keyword.update": "Edited a keyword reply",
    "keyword.enable": "Enabled a keyword reply",
    "keyword.disable": "Disabled a keyword reply",
    "keyword.delete": "Deleted a keyword reply",
    "menu.save": "Saved the menu",
    "menu.sync": "Pushed the menu to WeChat",
    "menu.sync_failed": "Menu push to WeChat failed",
    "qr.create": "Created a QR code",
    "dealer.create": "Created a dealer",
    "dealer.update": "Edited a dealer",
    "staff.create": "Created a staff account",
    "staff.deactivate": "Deactivated a staff account",
    "staff.activate": "Reactivated a staff account",
    "staff.password_reset": "Reset a password",
    "staff.language": "Changed the display language",
    "customer.note": "Added a note to a customer",
    "customer.tags": "Edited a customer's tags",
    "import.start": "Started a customer file import",
    "import.report_download": "Downloaded the rejected rows of an import",
}

_DETAIL_LIMIT = 2000


def record(s: Session, *, staff: StaffUser | None, action: str, target_type: str = "",
           target_id: str | int = "", detail: dict[str, Any] | None = None, ip: str = "",
           account_id: int | None = None, dealer_id: int | None = None) -> None:
    """Add an AuditLog row to the caller's transaction.

    The account and dealer default to the staff member's; pass `dealer_id` when the write concerns
    another dealer's row (a brand admin editing dealer B's reply shows in dealer B's log).
    """
    acc = account_id if account_id is not None else (staff.account_id if staff else None)
    dealer = dealer_id if dealer_id is not None else (staff.dealer_id if staff else None)
    s.add(AuditLog(account_id=acc, dealer_id=dealer, staff_id=staff.id if staff else None,
                   action=action[:64], target_type=target_type[:32], target_id=str(target_id)[:64],
                   detail=_trim(detail or {}), ip=ip[:64], created_at=db.utcnow()))


def _trim(detail: dict[str, Any]) -> dict[str, Any]:
    """Keep detail values short: long texts are cut, so a log row never balloons."""
    out: dict[str, Any] = {}
    for key, value in detail.items():
        if isinstance(value, str) and len(value) > _DETAIL_LIMIT:
            value = value[:_DETAIL_LIMIT] + "…"
        out[str(key)] = value
    return out


@dataclass(frozen=True)
class AuditFilter:
    """What the audit page filters on; dates are local calendar days, inclusive."""

    staff_id: int | None = None
    action: str = ""
    date_from: date | None = None
    date_to: date | None = None


def list_entries(scope: Scope, flt: AuditFilter, page: int = 1, per_page: int = 50) -> Page[AuditLog]:
    """Audit rows in scope, newest first."""
    stmt = scope.apply(sa.select(AuditLog), AuditLog)
    if flt.staff_id is not None:
        stmt = stmt.where(AuditLog.staff_id == flt.staff_id)
    if flt.action:
        if flt.action.endswith(".*"):
            stmt = stmt.where(AuditLog.action.startswith(flt.action[:-1], autoescape=True))
        else:
            stmt = stmt.where(AuditLog.action == flt.action)
    tz = runtime.get().settings.app.tz
    if flt.date_from is not None:
        stmt = stmt.where(AuditLog.created_at >= datetime.combine(flt.date_from, time(), tz))
    if flt.date_to is not None:
        stmt = stmt.where(AuditLog.created_at < datetime.combine(flt.date_to + timedelta(days=1), time(), tz))
    stmt = stmt.order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
    return paginate(db.session(), stmt, page, per_page)


def staff_names(scope: Scope) -> dict[int, str]:
    """Staff id -> display label for the staff in scope (for filters and the table)."""
    rows = db.session.execute(
        scope.apply(sa.select(StaffUser.id, StaffUser.username, StaffUser.display_name), StaffUser)
        .order_by(StaffUser.username)).all()
    return {r.id: f"{r.display_name} ({r.username})" if r.display_name else r.username for r in rows}
