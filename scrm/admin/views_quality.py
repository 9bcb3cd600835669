"""Data quality (数据质量): the report with before/after snapshots, duplicate review, merge and unmerge."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from werkzeug.wrappers import Response

from scrm.admin import nav
from scrm.admin.auth import client_ip
from scrm.admin.forms import parse_int
from scrm.admin.helpers import flash_domain_error, http_for
from scrm.admin.scoping import current_scope, current_staff, pick_dealer
from scrm.models import Customer
from scrm.services import duplicate_review as review
from scrm.services import duplicates_run, merge, merge_undo, quality
from scrm.services.errors import DomainError, Forbidden, NotFound
from scrm.services.paging import clamp_page
from scrm.services.scope import Perm

bp = Blueprint("quality", __name__, url_prefix="/quality")
nav.add_item(nav.NavItem("customers", "admin.quality.index", "Data quality", order=20,
                         active_prefixes=("admin.quality.",)))

REASON_LABELS = {
    "same_name": lazy_gettext("Same name"), "homophone_name": lazy_gettext("Name sounds the same"),
    "similar_name": lazy_gettext("Similar name"), "same_plate": lazy_gettext("Same plate"),
    "mobile_typo": lazy_gettext("Mobile one digit apart"), "mobile_transposed": lazy_gettext("Mobile digits swapped"),
    "same_birthday": lazy_gettext("Same birthday"), "same_landline": lazy_gettext("Same landline"),
    "same_city": lazy_gettext("Same city"), "birthday_differs": lazy_gettext("Birthdays differ"),
    "gender_differs": lazy_gettext("Genders differ"),
}
KIND_LABELS = {"exact": lazy_gettext("Exact"), "fuzzy": lazy_gettext("Fuzzy")}


@bp.context_processor
def _labels() -> dict[str, Any]:
    from scrm.admin.views_customers import STAGE_LABELS

    return {"REASON_LABELS": REASON_LABELS, "PAIR_KIND_LABELS": KIND_LABELS, "STAGE_LABELS": STAGE_LABELS}


def _back(endpoint: str, dealer_id: int) -> Response:
    if current_scope().all_dealers:
        return redirect(url_for(endpoint, dealer=dealer_id), 303)
    return redirect(url_for(endpoint), 303)


@bp.get("/")
def index() -> str:
    """The quality report of one dealer, compared with an earlier snapshot."""
    dealer_id, dealers = pick_dealer()
    scope = current_scope()
    snaps = quality.snapshots(scope, dealer_id)
    against = next((s for s in snaps if s.id == parse_int(request.args.get("against"))), None)
    if against is None and request.args.get("against") is None and snaps:
        against = snaps[0]
    figures = quality.current(dealer_id)
    return render_template("admin/quality/index.html", dealer_id=dealer_id, dealers=dealers, figures=figures,
                           lines=quality.lines(figures, against.figures if against else None), snapshots=snaps,
                           against=against, can_merge=scope.can(Perm.CUSTOMERS_MERGE),
                           detection=duplicates_run.status(dealer_id))


@bp.post("/snapshot")
def snapshot() -> Response:
    """Keep the current figures under a label (e.g. "before the spring clean-up")."""
    dealer_id, _dealers = pick_dealer()
    try:
        quality.take_snapshot(current_staff(), dealer_id, request.form.get("label", "") or gettext("Snapshot"),
                              client_ip())
        flash(gettext("Snapshot saved."), "success")
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
    return _back(".index", dealer_id)


@bp.post("/detect")
def detect() -> Response:
    """Look for duplicates now (inline for a small dealer, in the background for a big one)."""
    dealer_id, _dealers = pick_dealer()
    try:
        state = duplicates_run.start_detection(current_staff(), dealer_id, client_ip())
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
        return _back(".index", dealer_id)
    if state.get("state") == "done":
        s = state["summary"]
        flash(gettext("Detection finished: %(customers)s customers checked, %(pairs)s candidate pairs "
                      "(%(seconds)s s).", customers=s["customers"], pairs=s["pairs"], seconds=s["seconds"]), "success")
    else:
        flash(gettext("Detection started in the background; reload this page to see when it is done."), "info")
    return _back(".pairs", dealer_id)


@bp.get("/pairs")
def pairs() -> str:
    """Open duplicate candidates, most certain first."""
    dealer_id, dealers = pick_dealer()
    kind = request.args.get("kind", "")
    page = review.list_pairs(current_scope(), dealer_id, kind, clamp_page(request.args.get("page")))
    return render_template("admin/quality/pairs.html", page=page, dealer_id=dealer_id, dealers=dealers,
                           kind=kind if kind in KIND_LABELS else "", detection=duplicates_run.status(dealer_id),
                           can_merge=current_scope().can(Perm.CUSTOMERS_MERGE))


@bp.get("/pairs/<int:pair_id>")
def pair(pair_id: int) -> str:
    """Both records side by side, with what a merge would keep."""
    try:
        cmp = review.compare(current_scope(), pair_id)
    except NotFound as exc:
        http_for(exc)
    return render_template("admin/quality/pair.html", cmp=cmp, fields=review.COMPARED,
                           can_merge=current_scope().can(Perm.CUSTOMERS_MERGE), all_dealers=current_scope().all_dealers)


@bp.post("/pairs/<int:pair_id>/merge")
def merge_pair(pair_id: int) -> Response:
    """Merge the pair into the survivor staff chose."""
    try:
        cmp = review.compare(current_scope(), pair_id)
        ids = {cmp.first.customer.id, cmp.second.customer.id}
        survivor = parse_int(request.form.get("survivor"))
        if survivor not in ids:
            survivor = cmp.default_survivor
        merged = (ids - {survivor}).pop()
        merge.merge_customers(current_staff(), int(survivor), merged, pair_id=pair_id, ip=client_ip())
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
        return redirect(url_for(".pair", pair_id=pair_id), 303)
    flash(gettext("Merged: customer #%(merged)s is now part of #%(survivor)s.", merged=merged, survivor=survivor),
          "success")
    return redirect(url_for("admin.customers.view", customer_id=survivor), 303)


@bp.post("/pairs/<int:pair_id>/dismiss")
def dismiss(pair_id: int) -> Response:
    """Not the same person: never propose this pair again."""
    try:
        pair = review.dismiss(current_staff(), pair_id, client_ip())
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
        return redirect(url_for(".pair", pair_id=pair_id), 303)
    flash(gettext("Dismissed: these two records will not be proposed again."), "success")
    return _back(".pairs", pair.dealer_id)


@bp.get("/merges")
def merges() -> str:
    """The merge history, with undo."""
    dealer_id, dealers = pick_dealer()
    page = review.merge_history(current_scope(), dealer_id, clamp_page(request.args.get("page")))
    return render_template("admin/quality/merges.html", page=page, dealer_id=dealer_id, dealers=dealers,
                           can_merge=current_scope().can(Perm.CUSTOMERS_MERGE))


@bp.post("/merges/<int:merge_id>/unmerge")
def unmerge(merge_id: int) -> Response:
    """Undo a merge; back to where the request came from (history or the customer page)."""
    try:
        record = merge_undo.unmerge(current_staff(), merge_id, ip=client_ip())
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
        return redirect(_safe_next() or url_for(".merges"), 303)
    flash(gettext("Merge undone: customers #%(a)s and #%(b)s are separate again.", a=record.survivor_id,
                  b=record.merged_id), "success")
    return redirect(_safe_next() or url_for(".merges"), 303)


def _safe_next() -> str | None:
    nxt = request.form.get("next", "")
    return nxt if nxt.startswith("/admin/") and not nxt.startswith("//") else None


@bp.app_template_global()
def merge_panel(c: Customer) -> dict[str, Any]:
    """What the customer page's merge panel shows: merges into this record and open candidates."""
    scope = current_scope()
    return {"merges": review.merge_history(scope, None, 1, customer_id=c.id).items,
            "pairs": review.open_pairs_of(scope, c.id), "can_merge": scope.can(Perm.CUSTOMERS_MERGE)}
