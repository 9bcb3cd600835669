"""The audit log: every staff write and sign-in event, filtered by staff, action and date."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, render_template, request
from flask_babel import gettext

from scrm.admin import nav
from scrm.admin.auth import require_perm
from scrm.admin.forms import parse_int
from scrm.admin.scoping import current_scope
from scrm.services import audit
from scrm.services.paging import clamp_page
from scrm.services.scope import Perm

bp = Blueprint("audit", __name__, url_prefix="/audit")
nav.add_item(nav.NavItem("audit", "admin.audit.index", "Audit log", order=10, perm=Perm.AUDIT_VIEW))


def _date(raw: str | None) -> date | None:
    try:
        return date.fromisoformat((raw or "").strip()) if raw else None
    except ValueError:
        return None


@bp.get("/")
@require_perm(Perm.AUDIT_VIEW)
def index() -> str:
    """Audit rows in scope, newest first."""
    scope = current_scope()
    args = request.args
    staff_names = audit.staff_names(scope)
    staff_id = parse_int(args.get("staff"))
    if staff_id is not None and staff_id not in staff_names:
        staff_id = None
    action = args.get("action", "")
    groups = sorted({a.split(".")[0] + ".*" for a in audit.ACTIONS})
    if action not in audit.ACTIONS and action not in groups:
        action = ""
    flt = audit.AuditFilter(staff_id=staff_id, action=action, date_from=_date(args.get("from")),
                            date_to=_date(args.get("to")))
    page = audit.list_entries(scope, flt, clamp_page(args.get("page")))
    labels = {key: gettext(msg) for key, msg in audit.ACTIONS.items()}
    query = {k: v for k, v in {"staff": staff_id or "", "action": action,
                               "from": flt.date_from.isoformat() if flt.date_from else "",
                               "to": flt.date_to.isoformat() if flt.date_to else ""}.items() if v}
    return render_template("admin/audit.html", page=page, flt=flt, staff_names=staff_names, labels=labels,
                           groups=groups, query=query)
