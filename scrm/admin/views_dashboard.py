"""Overview: followers, new follows by scene, unfollows, messages today."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from scrm.admin import nav
from scrm.admin.forms import parse_int
from scrm.admin.scoping import current_scope, get_scoped
from scrm.models import Dealer, SceneKind
from scrm.services import dashboard
from scrm.services.keyword_admin import dealer_choices

bp = Blueprint("dashboard", __name__)
nav.add_item(nav.NavItem("overview", "admin.dashboard.index", "Dashboard", order=10))


@bp.get("/")
def index() -> str:
    """The dashboard; a brand admin may narrow it to one dealer with ?dealer=<id>."""
    scope = current_scope()
    dealer = None
    raw = request.args.get("dealer", "")
    if raw and scope.all_dealers:
        dealer_id = parse_int(raw)
        if dealer_id is None:
            abort(404)
        dealer = get_scoped(Dealer, dealer_id)
    stats = dashboard.stats(scope, dealer.id if dealer else None)
    dealers = dealer_choices(scope) if scope.all_dealers else []
    return render_template("admin/dashboard.html", stats=stats, dealer=dealer, dealers=dealers,
                           kinds=[k.value for k in SceneKind], periods=[p for p, _ in dashboard.PERIODS])
