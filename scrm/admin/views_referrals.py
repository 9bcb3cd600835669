"""Referrals in the admin: who brought whom, and the points paid for it."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext

from scrm.admin import nav
from scrm.admin.forms import parse_int
from scrm.admin.scoping import current_scope
from scrm.services import referrals_points  # noqa: F401  (subscribes the test-drive points to BookingCompleted)
from scrm.services import referrals_views as views
from scrm.services.keyword_admin import dealer_choices
from scrm.services.paging import clamp_page

bp = Blueprint("referrals", __name__, url_prefix="/referrals")
nav.add_group("loyalty", "Loyalty & club", 27)
nav.add_item(nav.NavItem("loyalty", "admin.referrals.index", "Referrals", order=60,
                         active_prefixes=("admin.referrals.",)))

STAGE_LABELS = {
    "followed": lazy_gettext("Followed only"), "bound": lazy_gettext("Bound"),
    "test_drive": lazy_gettext("Test-drove"), "purchased": lazy_gettext("Bought"),
}


def _day(raw: str | None) -> tuple[date | None, bool]:
    """A yyyy-mm-dd filter value: (day, ok); empty is (None, True)."""
    text = (raw or "").strip()
    if not text:
        return None, True
    try:
        return date.fromisoformat(text), True
    except ValueError:
        return None, False


@bp.get("/")
def index() -> str:
    """Referrals of the members whose home dealer is in scope, filtered, with this month's top referrers."""
    scope = current_scope()
    dealers = dealer_choices(scope) if scope.all_dealers else []
    stage = request.args.get("stage", "")
    stage = stage if stage in views.STAGE_FILTERS else ""
    dealer = parse_int(request.args.get("dealer"))
    dealer = dealer if dealer in {d.id for d in dealers} else None
    since, since_ok = _day(request.args.get("since"))
    until, until_ok = _day(request.args.get("until"))
    bad_dates = not since_ok or not until_ok or (since is not None and until is not None and since > until)
    if bad_dates:
        since = until = None
    query: dict[str, Any] = {k: v for k, v in (("stage", stage), ("dealer", dealer),
                                               ("since", since.isoformat() if since else ""),
                                               ("until", until.isoformat() if until else "")) if v}
    page = views.admin_list(scope, stage=stage, dealer_id=dealer, since=since, until=until,
                            page=clamp_page(request.args.get("page")))
    return render_template("admin/referrals/index.html", page=page, query=query, dealers=dealers,
                           stage_labels=STAGE_LABELS, flt={"stage": stage, "dealer": dealer, "since": since,
                                                           "until": until},
                           bad_dates=bad_dates, top=views.top_referrers(scope, dealer_id=dealer))
