"""The followers list: filter, search, sort, 50 a page."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from scrm import db
from scrm.admin import nav
from scrm.admin.forms import parse_int
from scrm.admin.scoping import current_scope
from scrm.models import SceneKind
from scrm.services import follower_admin
from scrm.services.keyword_admin import dealer_choices
from scrm.services.paging import clamp_page

bp = Blueprint("followers", __name__, url_prefix="/followers")
nav.add_item(nav.NavItem("followers", "admin.followers.index", "Followers", order=10))


@bp.get("/")
def index() -> str:
    """Followers in scope with the filters from the query string."""
    scope = current_scope()
    args = request.args
    following = {"yes": True, "no": False}.get(args.get("following", ""))
    dealers = dealer_choices(scope) if scope.all_dealers else []
    dealer = parse_int(args.get("dealer")) if scope.all_dealers else None
    if dealer is not None and dealer not in {d.id for d in dealers}:
        dealer = None  # not one of theirs: ignore the filter rather than reveal anything
    flt = follower_admin.FollowerFilter(
        following=following, scene_kind=args.get("scene", ""), dealer=dealer, q=args.get("q", ""),
        oldest_first=args.get("sort") == "oldest")
    page = follower_admin.list_followers(scope, flt, clamp_page(args.get("page")))
    names = {d.id: d.name for d in dealers} if dealers else _own_dealer_name(scope.dealer_id)
    now = db.utcnow()
    rows = [{"f": f, "short": follower_admin.short_openid(f.openid), "dealer": names.get(f.dealer_id or 0, ""),
             "window": follower_admin.window_open(f, now)} for f in page.items]
    query = {k: v for k, v in {"following": args.get("following", ""), "scene": flt.scene_kind,
                               "dealer": dealer or "", "q": flt.q, "sort": args.get("sort", "")}.items() if v}
    return render_template("admin/followers.html", page=page, rows=rows, flt=flt, dealers=dealers,
                           kinds=[k.value for k in SceneKind], query=query,
                           following=args.get("following", ""), sort=args.get("sort", ""))


def _own_dealer_name(dealer_id: int | None) -> dict[int, str]:
    from scrm.models import Dealer

    dealer = db.session.get(Dealer, dealer_id) if dealer_id else None
    return {dealer.id: dealer.name} if dealer else {}
