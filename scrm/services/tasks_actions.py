"""What staff do with a task: record the outcome, postpone, reassign, cancel, or add one by hand.

Each action locks the task row, checks it is still open and that this user may act on it, writes, and
records an audit row, all in one transaction: bad input or a closed task changes nothing.
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Customer, Role, StaffUser, Task, TaskOutcome, TaskRule, TaskStatus
from scrm.services import audit, tasks
from scrm.services.errors import DomainError, Invalid, NotFound
from scrm.services.normalize_base import N_
from scrm.services.scope import Perm, Scope
from scrm.services.tasks_admin import may_act

NOTE_MAX = 1000
REASON_MAX = 500
TITLE_MAX = 200
CALL_BACK_MAX_DAYS = 90
NOTE_REQUIRED = (TaskOutcome.OTHER, TaskOutcome.COMPLAINT)

audit.ACTIONS.update({
    "task.close": N_("Recorded a follow-up outcome"),
    "task.postpone": N_("Postponed a follow-up task"),
    "task.reassign": N_("Reassigned a follow-up task"),
    "task.cancel": N_("Cancelled a follow-up task"),
    "task.create": N_("Added a follow-up task"),
})


def _clean(text: str | None) -> str:
    return (text or "").strip()


def _open_task(s: Session, scope: Scope, task_id: int) -> Task:
    task = s.get(Task, task_id, with_for_update=True)
    if task is None or not may_act(scope, task):    # a colleague's task is as invisible as in the list
        raise NotFound()
    if task.status != TaskStatus.OPEN:
        raise DomainError(N_("This task is already closed."))
    return task


def _future_day(day: date | None, today: date, field: str) -> date:
    if day is None:
        raise Invalid(N_("Please choose a date."), field=field)
    if day <= today:
        raise Invalid(N_("Please choose a date after today."), field=field)
    if day > today + timedelta(days=CALL_BACK_MAX_DAYS):
        raise Invalid(N_("Please choose a date within %(n)s days."), field=field, n=CALL_BACK_MAX_DAYS)
    return day


def close(scope: Scope, staff: StaffUser, task_id: int, *, outcome: str, note: str, today: date,
          call_back_on: date | None = None, ip: str = "") -> Task:
    """Record the outcome (it lands on the customer's timeline); CALL_BACK makes a manual task for that day."""
    try:
        result = TaskOutcome(outcome)
    except ValueError:
        raise Invalid(N_("Please choose an outcome."), field="outcome") from None
    text = _clean(note)
    if len(text) > NOTE_MAX:
        raise Invalid(N_("The note may have at most %(n)s characters."), field="note", n=NOTE_MAX)
    if result in NOTE_REQUIRED and not text:
        raise Invalid(N_("Please write a note for this outcome."), field="note")
    if result == TaskOutcome.CALL_BACK:
        call_back_on = _future_day(call_back_on, today, "call_back_on")
    with db.transaction() as s:
        task = _open_task(s, scope, task_id)
        tasks.close(s, task, outcome=result, note=text, staff=staff)
        detail: dict[str, object] = {"outcome": result.value, "note": text[:200]}
        if result == TaskOutcome.CALL_BACK and call_back_on is not None:
            new_id = tasks.create(s, tasks.NewTask(
                account_id=task.account_id, dealer_id=task.dealer_id, rule=TaskRule.MANUAL,
                dedupe_key=f"call_back:{task.id}", title=N_("Call back as agreed"), due_on=call_back_on,
                customer_id=task.customer_id, follower_id=task.follower_id,
                detail={"after_task": task.id, "title": task.title, "note": text[:200]},
                assignee_id=task.assignee_id or staff.id, created_by=staff.id))
            detail |= {"call_back_on": call_back_on.isoformat(), "new_task": new_id}
        audit.record(s, staff=staff, action="task.close", target_type="task", target_id=task.id, detail=detail,
                     ip=ip, dealer_id=task.dealer_id)
        return task


def _reason(reason: str) -> str:
    """A cleaned, required reason of at most REASON_MAX characters."""
    text = _clean(reason)
    if not text:
        raise Invalid(N_("Please give a reason."), field="reason")
    if len(text) > REASON_MAX:
        raise Invalid(N_("The reason may have at most %(n)s characters."), field="reason", n=REASON_MAX)
    return text


def postpone(scope: Scope, staff: StaffUser, task_id: int, *, due_on: date | None, reason: str, today: date,
             ip: str = "") -> Task:
    """Move the due date to a later day, with a reason."""
    due = _future_day(due_on, today, "due_on")
    text = _reason(reason)
    with db.transaction() as s:
        task = _open_task(s, scope, task_id)
        old = task.due_on
        task.due_on, task.updated_at = due, db.utcnow()
        audit.record(s, staff=staff, action="task.postpone", target_type="task", target_id=task.id,
                     detail={"from": old.isoformat(), "to": due.isoformat(), "reason": text}, ip=ip,
                     dealer_id=task.dealer_id)
        return task


def _staff_of_dealer(s: Session, scope: Scope, staff_id: int | None, dealer_id: int) -> StaffUser:
    user = s.get(StaffUser, staff_id) if staff_id is not None else None
    if (user is None or not user.active or user.account_id != scope.account_id or user.dealer_id != dealer_id
            or user.role not in (Role.DEALER_STAFF, Role.DEALER_MANAGER)):
        raise Invalid(N_("Please choose an active staff member of this dealer."), field="assignee")
    return user


def reassign(scope: Scope, staff: StaffUser, task_id: int, *, assignee_id: int | None, ip: str = "") -> Task:
    """Give the task to another active staff member of its dealer (managers only)."""
    scope.require(Perm.TASKS_MANAGE)
    with db.transaction() as s:
        task = _open_task(s, scope, task_id)
        user = _staff_of_dealer(s, scope, assignee_id, task.dealer_id)
        old = task.assignee_id
        task.assignee_id, task.updated_at = user.id, db.utcnow()
        audit.record(s, staff=staff, action="task.reassign", target_type="task", target_id=task.id,
                     detail={"from": old, "to": user.id}, ip=ip, dealer_id=task.dealer_id)
        return task


def cancel(scope: Scope, staff: StaffUser, task_id: int, *, reason: str, ip: str = "") -> Task:
    """Cancel a task that no longer makes sense, with a reason (managers only)."""
    scope.require(Perm.TASKS_MANAGE)
    text = _reason(reason)
    with db.transaction() as s:
        task = _open_task(s, scope, task_id)
        now = db.utcnow()
        task.status, task.outcome_note, task.done_by, task.done_at, task.updated_at = (
            TaskStatus.CANCELLED, text, staff.id, now, now)
        audit.record(s, staff=staff, action="task.cancel", target_type="task", target_id=task.id,
                     detail={"reason": text}, ip=ip, dealer_id=task.dealer_id)
        return task


def create_manual(scope: Scope, staff: StaffUser, customer_id: int, *, title: str, due_on: date | None,
                  today: date, assignee_id: int | None = None, ip: str = "") -> int:
    """A task added by hand from the customer's page; managers may give it to someone else."""
    text = " ".join(_clean(title).split())
    if not text:
        raise Invalid(N_("Please say what to do."), field="title")
    if len(text) > TITLE_MAX:
        raise Invalid(N_("The title may have at most %(n)s characters."), field="title", n=TITLE_MAX)
    if due_on is None or due_on < today or due_on > today + timedelta(days=365):
        raise Invalid(N_("Please choose a due date from today to a year ahead."), field="due_on")
    with db.transaction() as s:
        c = scope.get(s, Customer, customer_id)
        if c.merged_into_id is not None or c.erased_at is not None:
            raise NotFound()
        owner = staff.id if staff.dealer_id == c.dealer_id else None
        if assignee_id is not None and assignee_id != staff.id:
            scope.require(Perm.TASKS_MANAGE)
            owner = _staff_of_dealer(s, scope, assignee_id, c.dealer_id).id
        n = s.scalar(sa.select(sa.func.count(Task.id)).where(Task.customer_id == c.id)) or 0
        new_id = tasks.create(s, tasks.NewTask(
            account_id=c.account_id, dealer_id=c.dealer_id, rule=TaskRule.MANUAL,
            dedupe_key=f"manual:{c.id}:{staff.id}:{db.utcnow().timestamp():.6f}:{n}", title=text, due_on=due_on,
            customer_id=c.id, assignee_id=owner, created_by=staff.id))
        if new_id is None:  # the same click twice within a microsecond
            raise DomainError(N_("This task was just added."))
        audit.record(s, staff=staff, action="task.create", target_type="task", target_id=new_id,
                     detail={"customer_id": c.id, "title": text, "due_on": due_on.isoformat(), "assignee": owner},
                     ip=ip, dealer_id=c.dealer_id)
        return new_id
