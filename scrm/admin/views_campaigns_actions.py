"""Campaign actions (launch, pause, resume, cancel, duplicate) and the live progress JSON."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import datetime
from typing import Any

from flask import flash, jsonify, redirect, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from scrm.admin.auth import require_perm
from scrm.admin.forms import ConfirmForm
from scrm.admin.helpers import flash_domain_error, http_for, localtime
from scrm.admin.scoping import current_scope
from scrm.admin.views_campaigns import bp, load
from scrm.models import Campaign
from scrm.services import campaign_results, campaigns
from scrm.services.errors import DomainError, Forbidden, NotFound
from scrm.services.scope import Perm


def _act(campaign_id: int, action: Any, done: Callable[[], str]) -> Response:
    """Run one service action after the CSRF check; refusals are flashed, out of scope is 404."""
    if ConfirmForm().validate_on_submit():
        try:
            action(current_scope(), campaign_id)
            flash(done(), "success")
        except (Forbidden, NotFound) as exc:
            http_for(exc)
        except DomainError as exc:
            flash_domain_error(exc)
    return redirect(url_for(".show", campaign_id=campaign_id), 303)


@bp.post("/<int:campaign_id>/launch")
@require_perm(Perm.CAMPAIGNS_MANAGE)
def launch(campaign_id: int) -> Response:
    """Launch a draft now, at its time, or on its recurrence."""
    return _act(campaign_id, campaigns.launch, lambda: gettext("Campaign launched."))


@bp.post("/<int:campaign_id>/pause")
@require_perm(Perm.CAMPAIGNS_MANAGE)
def pause(campaign_id: int) -> Response:
    """Hold the campaign's unsent messages."""
    return _act(campaign_id, campaigns.pause, lambda: gettext("Campaign paused."))


@bp.post("/<int:campaign_id>/resume")
@require_perm(Perm.CAMPAIGNS_MANAGE)
def resume(campaign_id: int) -> Response:
    """Release the held messages."""
    return _act(campaign_id, campaigns.resume, lambda: gettext("Campaign resumed."))


@bp.post("/<int:campaign_id>/cancel")
@require_perm(Perm.CAMPAIGNS_MANAGE)
def cancel(campaign_id: int) -> Response:
    """Cancel every message not sent yet; nothing more goes out."""
    return _act(campaign_id, campaigns.cancel, lambda: gettext("Campaign cancelled."))


@bp.post("/<int:campaign_id>/duplicate")
@require_perm(Perm.CAMPAIGNS_MANAGE)
def duplicate(campaign_id: int) -> Response:
    """A draft copy of any campaign, opened for editing."""
    copy: Campaign | None = None
    if ConfirmForm().validate_on_submit():
        try:
            copy = campaigns.duplicate(current_scope(), campaign_id)
        except (Forbidden, NotFound) as exc:
            http_for(exc)
        except DomainError as exc:
            flash_domain_error(exc)
    if copy is None:
        return redirect(url_for(".show", campaign_id=campaign_id), 303)
    flash(gettext("Copied as a new draft."), "success")
    return redirect(url_for(".edit", campaign_id=copy.id), 303)


def _plain(value: Any) -> Any:
    """JSON-ready values: datetimes as local text, dataclasses as dicts."""
    if isinstance(value, datetime):
        return localtime(value)
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@bp.get("/<int:campaign_id>/progress.json")
@require_perm(Perm.CAMPAIGNS_MANAGE)
def progress(campaign_id: int) -> Response:
    """Live progress: counts by status, percent done, quota pause, status (polled every 2 s)."""
    load(campaign_id)
    try:
        p = campaign_results.progress(current_scope(), campaign_id)
    except (Forbidden, NotFound) as exc:
        http_for(exc)
    out = _plain(p)
    status = str(out.get("status", ""))
    out["status"] = status.split(".")[-1].lower() if "." in status else status
    return jsonify(out)
