"""Export of the staff customer list as CSV: the current filters and scope, streamed, capped and audited.

Every role may export what it may already see on the list page, in the same form: dealer staff get
masked mobiles (no CUSTOMER_PHONES permission), so the file gives them nothing the screen does not.
The file is capped at EXPORT_CAP rows (a last line says so when cut) and every export, finished or
broken off, leaves an audit row with the filters and the number of rows sent.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import asdict

from scrm import db, runtime
from scrm.models import StaffUser
from scrm.services import audit
from scrm.services.customer_admin import Cursor, CustomerFilter, CustomerRow, _rows, list_statement, show_phone
from scrm.services.normalize_base import N_
from scrm.services.scope import Scope

EXPORT_CAP = 100_000
BATCH = 1000
audit.ACTIONS["customer.export"] = N_("Exported the customer list")
HEADERS = [N_("Customer name"), N_("Mobile number"), N_("Landline"), N_("Gender"), N_("Stage"), N_("City"),
           N_("Customer source"), N_("Tags"), N_("Licence plates"), N_("Vehicle models"), N_("Last service"),
           N_("WeChat"), N_("Dealer"), N_("Last changed")]
TRUNCATED = N_("Only the first %(cap)s customers are exported; narrow the filters to export the rest.")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    """Text as a spreadsheet will show it, never as a formula (CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _line(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow([_cell(c) for c in cells])
    return out.getvalue()


def export_csv(staff: StaffUser, flt: CustomerFilter, label: Callable[[str], str], ip: str = "",
               cap: int = EXPORT_CAP) -> Iterator[str]:
    """CSV text of the filtered list, newest change first, in pieces (UTF-8 BOM first, for Excel).

    `label` translates a msgid (headers, stage, gender, binding). The audit row is written when the
    stream ends, also when the client goes away.
    """
    scope = Scope.of(staff)
    sent, truncated = 0, False
    try:
        headers = [label(h) for h in HEADERS if h != "Dealer" or scope.all_dealers]
        yield "\ufeff" + _line(headers)
        after: Cursor | None = None
        while True:
            customers = list(db.session.scalars(list_statement(scope, flt, after, BATCH + 1)))
            more = len(customers) > BATCH
            customers = customers[:BATCH]
            if sent + len(customers) > cap:
                customers, truncated = customers[:cap - sent], True
            chunk = [_line(_cells(scope, r, label)) for r in _rows(scope, customers)]
            sent += len(chunk)
            yield "".join(chunk)
            if truncated or not more:
                break
            if sent == cap:
                truncated = True
                break
            after = Cursor(customers[-1].updated_at, customers[-1].id)
            db.session.expunge_all()  # bounded memory over 100,000 rows
        if truncated:
            yield _line([label(TRUNCATED) % {"cap": cap}])
    finally:
        db.session.rollback()
        with db.transaction() as s:
            audit.record(s, staff=staff, action="customer.export", target_type="customer",
                         detail={"filters": {k: v for k, v in asdict(flt).items() if v not in ("", None, ())},
                                 "rows": sent, "truncated": truncated}, ip=ip)


_STAGES = {"lead": N_("Lead"), "prospect": N_("Prospect"), "owner": N_("Owner"), "lost": N_("Lost")}
_GENDERS = {"male": N_("Male"), "female": N_("Female")}


def _cells(scope: Scope, r: CustomerRow, label: Callable[[str], str]) -> list[str]:
    c = r.customer
    binding = (label("Bound") if r.following else label("Bound, unfollowed")) if r.bound else label("Not bound")
    cells = [c.name or "", show_phone(scope, c.mobile), show_phone(scope, c.landline),
             label(_GENDERS[c.gender.value]) if c.gender else "", label(_STAGES[c.stage.value]), c.city or "",
             c.source or "", "、".join(c.tags or []), " ".join(r.plates), "、".join(r.models),
             r.last_service.isoformat() if r.last_service else "", binding]
    if scope.all_dealers:
        cells.append(r.dealer_name)
    cells.append(c.updated_at.astimezone(runtime.get().settings.app.tz).strftime("%Y-%m-%d %H:%M"))
    return cells
