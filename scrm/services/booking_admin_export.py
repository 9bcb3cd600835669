"""Export of the staff booking list as CSV: the list's filters and scope, masked as on screen, capped and audited.

Dealer staff get masked mobiles (no CUSTOMER_PHONES permission), so the file gives nobody more than the
list page does. At most EXPORT_CAP rows (a last line says so when cut); every export, finished or broken
off, leaves an audit row with the filters and the number of rows sent.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import asdict

from scrm import db
from scrm.models import StaffUser
from scrm.services import audit
from scrm.services.booking_admin import BookingFilter, BookingRow, dealer_zone, row_of, statement
from scrm.services.normalize_base import N_
from scrm.services.scope import Scope

EXPORT_CAP = 20_000
BATCH = 500
audit.ACTIONS["booking.export"] = N_("Exported the booking list")
HEADERS = [N_("Booking number"), N_("Date"), N_("Start"), N_("End"), N_("Service"), N_("Status"), N_("Source"),
           N_("Customer name"), N_("Mobile number"), N_("Licence plate"), N_("Note")]
TRUNCATED = N_("Only the first %(cap)s bookings are exported; narrow the filters to export the rest.")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    """Text as a spreadsheet will show it, never as a formula (CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _line(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([_cell(c) for c in cells])
    return out.getvalue()


def _cells(r: BookingRow, status: Callable[[str], str], source: Callable[[str], str]) -> list[str]:
    return [str(r.id), r.start_local.strftime("%Y-%m-%d"), r.start_local.strftime("%H:%M"),
            r.end_local.strftime("%H:%M"), r.service_name, status(r.status.value), source(r.source.value), r.name,
            r.phone, r.plate, r.note]


def export_csv(staff: StaffUser, dealer_id: int, flt: BookingFilter, label: Callable[[str], str],
               status: Callable[[str], str], source: Callable[[str], str], ip: str = "",
               cap: int = EXPORT_CAP) -> Iterator[str]:
    """CSV text of the filtered list in pieces (UTF-8 BOM first, for Excel); audited when the stream ends.

    `label` translates a header msgid; `status` and `source` name a status or source value.
    """
    scope = Scope.of(staff)
    sent, truncated = 0, False
    try:
        s = db.session()
        tz = dealer_zone(s, dealer_id)
        stmt, _ = statement(scope, dealer_id, flt, tz)
        yield "\ufeff" + _line([label(h) for h in HEADERS])
        offset = 0
        while True:
            rows = s.execute(stmt.limit(BATCH).offset(offset)).all()
            if sent + len(rows) > cap:
                rows, truncated = rows[:cap - sent], True
            chunk = [_line(_cells(row_of(scope, tz, b, c, v, st), status, source)) for b, c, v, st in rows]
            sent += len(chunk)
            yield "".join(chunk)
            if truncated or len(rows) < BATCH:
                break
            if sent == cap:
                truncated = s.execute(stmt.limit(1).offset(cap)).first() is not None
                break
            offset += BATCH
            s.expunge_all()  # bounded memory
        if truncated:
            yield _line([label(TRUNCATED) % {"cap": cap}])
    finally:
        db.session.rollback()
        with db.transaction() as ts:
            audit.record(ts, staff=staff, action="booking.export", target_type="booking", dealer_id=dealer_id,
                         detail={"filters": {k: str(v) for k, v in asdict(flt).items() if v not in ("", None)},
                                 "rows": sent, "truncated": truncated}, ip=ip)
