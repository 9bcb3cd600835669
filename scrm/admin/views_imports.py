"""File imports (customers or repair orders): upload (queued for the worker), the job page with live progress,
the report.

The upload view is exempt from the app-wide CSRF hook only so that it can raise the request size limit
(50 MB files, above the app's 16 MB) before the form is parsed; it checks the CSRF token itself first thing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import get_locale, gettext
from werkzeug.exceptions import Forbidden as HTTPForbidden
from werkzeug.wrappers import Response

from scrm import db
from scrm.admin import nav
from scrm.admin.auth import client_ip
from scrm.admin.forms import parse_int
from scrm.admin.helpers import http_for
from scrm.admin.scoping import current_scope, current_staff, get_scoped, scoped
from scrm.models import Dealer, ImportJob, ImportKind, ImportStatus
from scrm.services.errors import DomainError, Forbidden, Invalid, NotFound
from scrm.services.imports import jobs, storage
from scrm.services.keyword_admin import dealer_choices
from scrm.services.paging import Page, clamp_page, paginate
from scrm.services.scope import Perm

bp = Blueprint("imports", __name__, url_prefix="/imports")
nav.add_item(nav.NavItem("customers", "admin.imports.index", "Data import", order=50,
                         active_prefixes=("admin.imports.",)))
# The form's other fields and multipart overhead are small; a bigger body is refused before it is read.
REQUEST_LIMIT = storage.MAX_UPLOAD_BYTES + storage.MAX_HEADER_MAP_BYTES + 256 * 1024
STATUS_LABELS = {"queued": "Waiting for the worker", "running": "Importing…", "done": "Import finished",
                 "failed": "Import failed"}
STATUS_BADGES = {"queued": "badge-grey", "running": "badge-blue", "done": "badge-green", "failed": "badge-red"}
KIND_LABELS = {"customers": "Customer file", "repair_orders": "Repair-order file"}
# The counters of a job, named for what its kind of file creates.
COUNT_LABELS = {"customers": ("New customers", "Updated customers"),
                "repair_orders": ("New repair orders", "Updated repair orders")}


@bp.record_once
def _exempt_upload(state: BlueprintSetupState) -> None:
    state.app.extensions["csrf"].exempt(f"{__name__}.upload")


def _jobs_page(page: int, dealer_id: int | None = None) -> Page[ImportJob]:
    stmt = scoped(sa.select(ImportJob), ImportJob)
    if dealer_id is not None:
        stmt = stmt.where(ImportJob.dealer_id == dealer_id)
    return paginate(db.session(), stmt.order_by(ImportJob.id.desc()), page, 20)


def _render_index(errors: dict[str, list[str]] | None = None, dealer_id: int | None = None,
                  kind: str = "customers") -> Any:
    scope = current_scope()
    dealers = dealer_choices(scope) if scope.all_dealers else []
    page = _jobs_page(clamp_page(request.args.get("page")))
    return render_template("admin/imports/index.html", page=page, dealers=dealers, errors=errors or {},
                           chosen_dealer=dealer_id, chosen_kind=kind, can_start=scope.can(Perm.IMPORTS_START),
                           dealer_names=_dealer_names(page.items), limit_mb=storage.MAX_UPLOAD_BYTES >> 20,
                           **_labels()), 422 if errors else 200


@bp.get("/")
def index() -> Any:
    """The upload form (for those who may import) and the jobs in scope, newest first."""
    return _render_index()


@bp.post("/")
def upload() -> Any:
    """Store the file, queue the import and go to its page; the import itself runs in the worker."""
    if not current_scope().can(Perm.IMPORTS_START):
        raise HTTPForbidden()
    request.max_content_length = REQUEST_LIMIT
    current_app.extensions["csrf"].protect()
    dealer_id = parse_int(request.form.get("dealer_id"))
    kind = request.form.get("kind") or ImportKind.CUSTOMERS.value
    if kind not in KIND_LABELS:
        kind = ImportKind.CUSTOMERS.value
    file = request.files.get("file")
    header_map = request.files.get("header_map")
    try:
        job = jobs.enqueue_import(
            current_staff(), dealer_id=dealer_id,
            upload=jobs.Upload(file.filename or "", file.stream) if file is not None and file.filename else None,
            header_map=jobs.Upload(header_map.filename or "", header_map.stream)
            if header_map is not None and header_map.filename else None,
            language=str(get_locale() or "zh"), ip=client_ip(), kind=ImportKind(kind))
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    except Invalid as exc:
        text = gettext(exc.message, **exc.params) if exc.params else gettext(exc.message)
        return _render_index({exc.field or "file": [text]}, dealer_id, kind)
    flash(gettext("The file %(name)s is queued for import.", name=job.filename), "success")
    return redirect(url_for(".job", job_id=job.id), 303)


@bp.get("/<int:job_id>")
def job(job_id: int) -> str:
    """One job: status, live progress, counts, the report link; and the dealer's other jobs."""
    row = get_scoped(ImportJob, job_id)
    page = _jobs_page(clamp_page(request.args.get("page")), row.dealer_id)
    return render_template("admin/imports/job.html", job=row, state=_state(row), page=page,
                           dealer_names=_dealer_names([row, *page.items]), **_labels())


@bp.get("/<int:job_id>/progress")
def progress(job_id: int) -> Response:
    """The job's state as JSON, polled by the job page."""
    return jsonify(_state(get_scoped(ImportJob, job_id)))


@bp.get("/<int:job_id>/report")
def report(job_id: int) -> Response:
    """Download the rejected-rows report (scoped and audited)."""
    try:
        path, name = jobs.report_for_download(current_staff(), job_id, client_ip())
    except DomainError as exc:
        http_for(exc if isinstance(exc, (Forbidden, NotFound)) else NotFound())
    response = send_file(path, mimetype="text/csv", max_age=0)
    # The dealer's own (often Chinese) file name, with a plain ASCII fallback for old clients.
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"import-{job_id}.rejected.csv\"; filename*=UTF-8''{quote(name, safe='')}")
    response.headers["Cache-Control"] = "no-store"
    return response


def _state(job: ImportJob) -> dict[str, Any]:
    """What the page and the poll show: the same numbers either way."""
    finished = job.status in (ImportStatus.DONE, ImportStatus.FAILED)
    total = job.total
    done = job.total if job.status == ImportStatus.DONE else min(job.processed, total) if total else job.processed
    percent = 100 if job.status == ImportStatus.DONE else (done * 100 // total if total else 0)
    return {
        "id": job.id, "status": job.status.value, "label": gettext(STATUS_LABELS[job.status.value]),
        "badge": STATUS_BADGES[job.status.value], "finished": finished, "processed": done, "total": total,
        "percent": percent, "created": job.created, "updated": job.updated, "unchanged": job.unchanged,
        "rejected": job.rejected, "error": job.error if job.status == ImportStatus.FAILED else "",
        "report_url": url_for(".report", job_id=job.id)
        if job.status == ImportStatus.DONE and job.report_path and storage.inside_root(storage.report_path(job.id))
        else "",
    }


def _labels() -> dict[str, Any]:
    return {"status_labels": {k: gettext(v) for k, v in STATUS_LABELS.items()}, "status_badges": STATUS_BADGES,
            "kind_labels": {k: gettext(v) for k, v in KIND_LABELS.items()},
            "count_labels": {k: (gettext(new), gettext(updated)) for k, (new, updated) in COUNT_LABELS.items()}}


def _dealer_names(rows: Any) -> dict[int, str]:
    ids = {r.dealer_id for r in rows}
    if not ids:
        return {}
    return {d.id: d.name for d in db.session.scalars(scoped(sa.select(Dealer), Dealer).where(Dealer.id.in_(ids)))}
