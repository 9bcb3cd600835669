"""Follow-up tasks in the admin: the list (overdue first), one task's page with its actions, the customer panel."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from scrm.admin import nav
from scrm.admin.auth import client_ip
from scrm.admin.forms import parse_int
from scrm.admin.helpers import dealer_name, flash_domain_error, http_for
from scrm.admin.scoping import current_scope, current_staff
from scrm.models import ChurnReason, Task, TaskOutcome, TaskRule
from scrm.services import task_rules  # also subscribes the low-rating task to BookingRated
from scrm.services import tasks_actions as act
from scrm.services import tasks_admin as svc
from scrm.services.analytics_common import CHURN_REASON_LABELS, TASK_OUTCOME_LABELS, TASK_RULE_LABELS
from scrm.services.errors import DomainError, Forbidden, NotFound
from scrm.services.keyword_admin import dealer_choices
from scrm.services.paging import clamp_page
from scrm.services.scope import Perm

bp = Blueprint("tasks", __name__, url_prefix="/tasks")
nav.add_group("followup", "Follow-up", 24)
nav.add_item(nav.NavItem("followup", "admin.tasks.index", "Tasks", order=10, active_prefixes=("admin.tasks.",),
                         badge=lambda scope: svc.due_count(scope, task_rules.local_today())))


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat((raw or "").strip())
    except ValueError:
        return None


def reason_labels(codes: list[str]) -> list[str]:
    """Translated labels of stored churn reason codes."""
    out = []
    for code in codes or []:
        member = ChurnReason.__members__.get(str(code).upper())
        if member is not None:
            out.append(gettext(CHURN_REASON_LABELS[member]))
    return out


@bp.app_context_processor
def _labels() -> dict[str, Any]:
    return {"TASK_RULE_LABELS": {r.value: v for r, v in TASK_RULE_LABELS.items()},
            "TASK_OUTCOME_LABELS": {o.value: v for o, v in TASK_OUTCOME_LABELS.items()},
            "task_reason_labels": reason_labels}


@bp.app_template_global("customer_tasks")
def customer_tasks(customer_id: int) -> list[svc.TaskRow]:
    """The customer's open tasks the user may see (the customer 360 panel)."""
    return svc.customer_tasks(current_scope(), customer_id, task_rules.local_today())


@bp.app_template_global("task_assignees")
def task_assignees(dealer_id: int) -> list[Any]:
    """Staff a manager may assign a task of this dealer to (empty for other roles)."""
    return svc.assignees(current_scope(), dealer_id)


def _filters() -> svc.Filters:
    scope = current_scope()
    status = request.args.get("status", "open")
    try:
        rule = TaskRule(request.args.get("rule", ""))
    except ValueError:
        rule = None
    dealer = parse_int(request.args.get("dealer")) if scope.all_dealers else None
    return svc.Filters(status=status if status in svc.STATUSES else "open", rule=rule,
                       assignee_id=parse_int(request.args.get("assignee")) if scope.can(Perm.TASKS_MANAGE) else None,
                       dealer_id=dealer, mine=request.args.get("mine") == "1")


@bp.get("/")
def index() -> str:
    """The task list: counts at the top, overdue first, each with its customer and what the rule found."""
    scope, today = current_scope(), task_rules.local_today()
    flt = _filters()
    page = svc.list_tasks(scope, flt, today, clamp_page(request.args.get("page")))
    dealer_for_staff = flt.dealer_id if scope.all_dealers else scope.dealer_id
    q = {k: v for k, v in dict(status=flt.status, rule=flt.rule.value if flt.rule else None,
                               assignee=flt.assignee_id, dealer=flt.dealer_id,
                               mine="1" if flt.mine else None).items() if v}
    q_all = {k: v for k, v in q.items() if k != "mine"}
    return render_template("admin/tasks/list.html", page=page, flt=flt, q=q, q_all=q_all, today=today,
                           counts=svc.counts(scope, flt, today),
                           dealers=dealer_choices(scope) if scope.all_dealers else [],
                           staff_choices=svc.assignees(scope, dealer_for_staff),
                           manage=scope.can(Perm.TASKS_MANAGE))


@bp.get("/<int:task_id>")
def view(task_id: int) -> str:
    """One task: what the rule found, and the forms to record the outcome, postpone, reassign or cancel."""
    scope, today = current_scope(), task_rules.local_today()
    try:
        row = svc.get(scope, task_id, today)
    except NotFound as exc:
        http_for(exc)
    t = row.task
    return render_template("admin/tasks/view.html", row=row, t=t, today=today,
                           may_act=svc.may_act(scope, t), manage=scope.can(Perm.TASKS_MANAGE),
                           staff_choices=svc.assignees(scope, t.dealer_id), dealer=dealer_name(t.dealer_id),
                           outcomes=list(TaskOutcome), day1=timedelta(days=1))


def _act(task_id: int, action: Callable[[], Task], done: str) -> Response:
    try:
        svc.get(current_scope(), task_id, task_rules.local_today())  # out of scope: 404 before any validation
        action()
    except (NotFound, Forbidden) as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
        return redirect(url_for(".view", task_id=task_id), 303)
    flash(gettext(done), "success")
    back = request.form.get("next", "")
    return redirect(back if back.startswith("/admin/") else url_for(".index"), 303)


@bp.post("/<int:task_id>/close")
def close(task_id: int) -> Response:
    """Record how the follow-up went."""
    f = request.form
    return _act(task_id, lambda: act.close(current_scope(), current_staff(), task_id, outcome=f.get("outcome", ""),
                                           note=f.get("note", ""), call_back_on=_day(f.get("call_back_on")),
                                           today=task_rules.local_today(), ip=client_ip()),
                "Outcome recorded.")


@bp.post("/<int:task_id>/postpone")
def postpone(task_id: int) -> Response:
    """Move the task to a later day."""
    f = request.form
    return _act(task_id, lambda: act.postpone(current_scope(), current_staff(), task_id, due_on=_day(f.get("due_on")),
                                              reason=f.get("reason", ""), today=task_rules.local_today(),
                                              ip=client_ip()), "Task postponed.")


@bp.post("/<int:task_id>/reassign")
def reassign(task_id: int) -> Response:
    """Give the task to someone else (managers)."""
    return _act(task_id, lambda: act.reassign(current_scope(), current_staff(), task_id,
                                              assignee_id=parse_int(request.form.get("assignee")), ip=client_ip()),
                "Task reassigned.")


@bp.post("/<int:task_id>/cancel")
def cancel(task_id: int) -> Response:
    """Cancel the task with a reason (managers)."""
    return _act(task_id, lambda: act.cancel(current_scope(), current_staff(), task_id,
                                            reason=request.form.get("reason", ""), ip=client_ip()),
                "Task cancelled.")


@bp.post("/new")
def new() -> Response:
    """Add a task by hand from the customer's page."""
    f = request.form
    customer_id = parse_int(f.get("customer_id"))
    if customer_id is None:
        return redirect(url_for(".index"), 303)
    back = url_for("admin.customers.view", customer_id=customer_id) + "#tasks"
    try:
        act.create_manual(current_scope(), current_staff(), customer_id, title=f.get("title", ""),
                          due_on=_day(f.get("due_on")), today=task_rules.local_today(),
                          assignee_id=parse_int(f.get("assignee")), ip=client_ip())
    except (NotFound, Forbidden) as exc:
        http_for(exc)
    except DomainError as exc:
        flash_domain_error(exc)
        return redirect(back, 303)
    flash(gettext("Task added."), "success")
    return redirect(back, 303)
