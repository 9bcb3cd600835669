"""Follow-up tasks: making them once per subject, choosing the advisor, and closing them with an outcome
that lands on the customer's timeline.

Rule tasks are made with `create(...)` inside the caller's transaction; a subject (a purchase, a test
drive, a rating) makes at most one task, guarded by the unique `dedupe_key` with INSERT ... ON CONFLICT
DO NOTHING, so two schedulers or a rule run racing an event never make it twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import (
    CustomerBinding,
    Follower,
    Role,
    StaffUser,
    Task,
    TaskOutcome,
    TaskRule,
    TaskStatus,
    TimelineEntry,
)
from scrm.services.normalize_base import N_

KEY_LEN = 191                       # dedupe keys are cut to the column's length
TIMELINE_KIND = "task"
TIMELINE_TITLE = N_("Follow-up done")


@dataclass(frozen=True)
class NewTask:
    """What a rule asks for; `title` is an English msgid, `detail` holds what the advisor needs to know."""

    account_id: int
    dealer_id: int
    rule: TaskRule
    dedupe_key: str
    title: str
    due_on: date
    customer_id: int | None = None
    follower_id: int | None = None
    detail: dict[str, Any] | None = None
    assignee_id: int | None = None      # None: chosen by `pick_assignee`
    created_by: int | None = None


def pick_assignee(s: Session, dealer_id: int, customer_id: int | None, follower_id: int | None) -> int | None:
    """The advisor for a task: the staff member whose QR code brought the customer's WeChat, if active at
    this dealer; else the dealer's active staff (managers last) with the fewest open tasks; None if no one."""
    followers = [follower_id] if follower_id else []
    if customer_id is not None:
        followers += list(s.scalars(sa.select(CustomerBinding.follower_id).where(
            CustomerBinding.customer_id == customer_id)))
    if followers:
        owner = s.scalar(sa.select(StaffUser.id).join(Follower, Follower.staff_id == StaffUser.id).where(
            Follower.id.in_(followers), StaffUser.dealer_id == dealer_id, StaffUser.active.is_(True))
            .order_by(Follower.id).limit(1))
        if owner is not None:
            return int(owner)
    open_tasks = (sa.select(sa.func.count(Task.id)).where(Task.assignee_id == StaffUser.id,
                                                          Task.status == TaskStatus.OPEN)
                  .correlate(StaffUser).scalar_subquery())
    manager_last = sa.case((StaffUser.role == Role.DEALER_MANAGER, 1), else_=0)
    return s.scalar(sa.select(StaffUser.id).where(
        StaffUser.dealer_id == dealer_id, StaffUser.active.is_(True),
        StaffUser.role.in_([Role.DEALER_STAFF, Role.DEALER_MANAGER]))
        .order_by(manager_last, open_tasks, StaffUser.id).limit(1))


def task_values(new: NewTask, assignee: int | None, now: datetime) -> dict[str, Any]:
    """The row of a new task."""
    return dict(account_id=new.account_id, dealer_id=new.dealer_id, customer_id=new.customer_id,
                follower_id=new.follower_id, rule=new.rule.value, dedupe_key=new.dedupe_key[:KEY_LEN],
                title=new.title[:200], detail=new.detail or {}, assignee_id=assignee, due_on=new.due_on,
                status=TaskStatus.OPEN.value, outcome_note="", created_by=new.created_by,
                created_at=now, updated_at=now)


def create(s: Session, new: NewTask) -> int | None:
    """Insert the task unless its dedupe key exists; the new task's id, or None when it already existed."""
    if s.scalar(sa.select(Task.id).where(Task.dedupe_key == new.dedupe_key[:KEY_LEN])) is not None:
        return None   # made before: skip choosing an advisor (the insert below still guards a race)
    assignee = new.assignee_id
    if assignee is None:
        assignee = pick_assignee(s, new.dealer_id, new.customer_id, new.follower_id)
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (insert(Task).values(**task_values(new, assignee, db.utcnow()))
            .on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Task.id))
    return s.scalar(stmt)


def close(s: Session, task: Task, *, outcome: TaskOutcome, note: str, staff: StaffUser) -> None:
    """Mark a task done with its outcome and put it on the customer's timeline (the caller checks rights)."""
    now = db.utcnow()
    task.status, task.outcome, task.outcome_note = TaskStatus.DONE, outcome, note
    task.done_by, task.done_at, task.updated_at = staff.id, now, now
    if task.customer_id is not None:
        s.add(TimelineEntry(account_id=task.account_id, dealer_id=task.dealer_id, customer_id=task.customer_id,
                            kind=TIMELINE_KIND, title=TIMELINE_TITLE, occurred_at=now, created_at=now,
                            detail={"task_id": task.id, "rule": TaskRule(task.rule).value, "title": task.title,
                                    "outcome": outcome.value, "text": note,
                                    "staff": staff.display_name or staff.username}))
