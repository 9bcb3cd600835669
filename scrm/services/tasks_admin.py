"""The task list for staff: who sees which tasks, filters, overdue-first order, counts and one task's page.

Dealer staff see the tasks assigned to them and their dealer's unassigned ones; roles with TASKS_MANAGE
see every task of their dealer (a brand admin every dealer's, narrowed by a dealer filter).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from scrm import db
from scrm.models import Customer, Follower, Role, StaffUser, Task, TaskRule, TaskStatus
from scrm.services.customer_admin import show_phone
from scrm.services.errors import NotFound
from scrm.services.paging import Page, paginate
from scrm.services.scope import Perm, Scope

STATUSES = ("open", "done", "all")


@dataclass(frozen=True)
class Filters:
    """What the list is narrowed to; `mine` keeps only the user's own tasks."""

    status: str = "open"
    rule: TaskRule | None = None
    assignee_id: int | None = None
    dealer_id: int | None = None
    mine: bool = False


@dataclass
class TaskRow:
    """One task as a list or page shows it."""

    task: Task
    customer_name: str = ""
    phone: str = ""
    follower_name: str = ""
    assignee_name: str = ""
    overdue_days: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def due_today(self) -> bool:
        """True for an open task due today."""
        return self.task.status == TaskStatus.OPEN and self.overdue_days == 0 and self.extra.get("today", False)


def visible(scope: Scope) -> sa.ColumnElement[bool]:
    """The tasks this user may see."""
    cond = scope.condition(Task)
    if scope.can(Perm.TASKS_MANAGE):
        return cond
    return sa.and_(cond, sa.or_(Task.assignee_id == scope.staff_id, Task.assignee_id.is_(None)))


def may_act(scope: Scope, task: Task) -> bool:
    """The assignee (or anyone who sees an unassigned task) and managers may act on a task."""
    if scope.can(Perm.TASKS_MANAGE):
        return scope.allows(task)
    return scope.allows(task) and task.assignee_id in (None, scope.staff_id)


def _filtered(scope: Scope, flt: Filters) -> sa.Select[Any]:
    stmt = sa.select(Task).where(visible(scope))
    if flt.status == "open":
        stmt = stmt.where(Task.status == TaskStatus.OPEN)
    elif flt.status == "done":
        stmt = stmt.where(Task.status != TaskStatus.OPEN)
    if flt.rule is not None:
        stmt = stmt.where(Task.rule == flt.rule)
    if flt.mine:
        stmt = stmt.where(Task.assignee_id == scope.staff_id)
    elif flt.assignee_id is not None and scope.can(Perm.TASKS_MANAGE):
        stmt = stmt.where(Task.assignee_id == flt.assignee_id)
    if flt.dealer_id is not None and scope.all_dealers:
        stmt = stmt.where(Task.dealer_id == flt.dealer_id)
    return stmt


def list_tasks(scope: Scope, flt: Filters, today: date, page: int = 1, per_page: int = 50) -> Page[TaskRow]:
    """One page of tasks: open ones overdue first (oldest first), then today's, then later; closed ones last."""
    is_open = sa.case((Task.status == TaskStatus.OPEN, 0), else_=1)
    stmt = _filtered(scope, flt).order_by(is_open, Task.due_on, Task.id)
    s = db.session()
    result = paginate(s, stmt, page, per_page)
    rows = rows_for(s, scope, list(result.items), today)
    return Page(items=rows, page=result.page, per_page=result.per_page, total=result.total)


def rows_for(s: Session, scope: Scope, items: list[Task], today: date) -> list[TaskRow]:
    """Display rows for tasks: the customer's name and phone (as this user may see it), the advisor's name."""
    customers = {c.id: c for c in s.scalars(sa.select(Customer).where(
        Customer.id.in_({t.customer_id for t in items if t.customer_id})))}
    followers = {f.id: f for f in s.scalars(sa.select(Follower).where(
        Follower.id.in_({t.follower_id for t in items if t.follower_id})))}
    staff = {u.id: u for u in s.scalars(sa.select(StaffUser).where(
        StaffUser.id.in_({t.assignee_id for t in items if t.assignee_id})))}
    out = []
    for t in items:
        c = customers.get(t.customer_id) if t.customer_id else None
        f = followers.get(t.follower_id) if t.follower_id else None
        u = staff.get(t.assignee_id) if t.assignee_id else None
        late = (today - t.due_on).days if t.status == TaskStatus.OPEN else 0
        out.append(TaskRow(task=t, customer_name=(c.name or "") if c else str(t.detail.get("contact") or ""),
                           phone=show_phone(scope, c.mobile) if c else "",
                           follower_name=(f.remark or f.openid[-6:]) if f else "",
                           assignee_name=(u.display_name or u.username) if u else "",
                           overdue_days=max(late, 0), extra={"today": late == 0}))
    return out


def counts(scope: Scope, flt: Filters, today: date) -> dict[str, int]:
    """How many tasks (with the list's filters but any status): overdue, due today, later, open, done."""
    base = _filtered(scope, Filters(status="all", rule=flt.rule, assignee_id=flt.assignee_id,
                                    dealer_id=flt.dealer_id, mine=flt.mine)).subquery()
    t = aliased(Task, base)
    is_open = t.status == TaskStatus.OPEN
    row = db.session.execute(sa.select(
        sa.func.count().filter(is_open, t.due_on < today),
        sa.func.count().filter(is_open, t.due_on == today),
        sa.func.count().filter(is_open, t.due_on > today),
        sa.func.count().filter(t.status == TaskStatus.DONE),
        sa.func.count().filter(t.status == TaskStatus.CANCELLED)).select_from(base)).one()
    overdue, due, later, done, cancelled = (int(x or 0) for x in row)
    return {"overdue": overdue, "today": due, "later": later, "open": overdue + due + later, "done": done,
            "cancelled": cancelled}


def due_count(scope: Scope, today: date) -> int:
    """The user's own open tasks that are overdue or due today (the nav badge)."""
    if scope.staff_id is None:
        return 0
    return int(db.session.scalar(sa.select(sa.func.count(Task.id)).where(
        scope.condition(Task), Task.assignee_id == scope.staff_id, Task.status == TaskStatus.OPEN,
        Task.due_on <= today)) or 0)


def get(scope: Scope, task_id: int, today: date) -> TaskRow:
    """One task this user may see; NotFound otherwise."""
    s = db.session()
    task = s.scalar(sa.select(Task).where(Task.id == task_id, visible(scope)))
    if task is None:
        raise NotFound()
    return rows_for(s, scope, [task], today)[0]


def customer_tasks(scope: Scope, customer_id: int, today: date) -> list[TaskRow]:
    """The open tasks of one customer this user may see, soonest first."""
    s = db.session()
    items = list(s.scalars(sa.select(Task).where(visible(scope), Task.customer_id == customer_id,
                                                 Task.status == TaskStatus.OPEN)
                           .order_by(Task.due_on, Task.id).limit(20)))
    return rows_for(s, scope, items, today)


def assignees(scope: Scope, dealer_id: int | None) -> list[StaffUser]:
    """The active staff a manager may give a dealer's tasks to."""
    if dealer_id is None or not scope.can(Perm.TASKS_MANAGE) or not scope.dealer_ok(dealer_id):
        return []
    return list(db.session.scalars(sa.select(StaffUser).where(
        StaffUser.account_id == scope.account_id, StaffUser.dealer_id == dealer_id, StaffUser.active.is_(True),
        StaffUser.role.in_([Role.DEALER_STAFF, Role.DEALER_MANAGER]))
        .order_by(StaffUser.display_name, StaffUser.id)))
