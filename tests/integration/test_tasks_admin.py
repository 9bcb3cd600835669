"""The task list and acting on tasks: who sees what, overdue first, outcomes on the timeline, bad input refused."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from scrm import db
from scrm.models import AuditLog, Customer, Dealer, Role, StaffUser, Task, TaskRule, TaskStatus, TimelineEntry
from scrm.services import tasks
from tests.factories import make_dealer, make_staff
from tests.integration.admin_support import login, post, text
from tests.integration.customer_support import make_customer
from tests.integration.test_task_rules import local_today

pytestmark = pytest.mark.integration
_n = iter(range(1, 10_000))


def task(c: Customer, due_in: int, assignee: StaffUser | None, title: str = "Call two weeks after purchase",
         rule: TaskRule = TaskRule.AFTER_PURCHASE) -> Task:
    """An open task of the customer, due `due_in` days from today, given to `assignee` (None: unassigned)."""
    with db.transaction() as s:
        new_id = tasks.create(s, tasks.NewTask(
            account_id=c.account_id, dealer_id=c.dealer_id, rule=rule, dedupe_key=f"t:{next(_n)}", title=title,
            due_on=local_today() + timedelta(days=due_in), customer_id=c.id,
            assignee_id=assignee.id if assignee else None))
        if assignee is None:
            s.execute(sa.update(Task).where(Task.id == new_id).values(assignee_id=None))
    t = db.session.get(Task, new_id)
    assert t is not None
    return t


def staff(role: Role, dealer: Dealer | None) -> StaffUser:
    """A staff user who reads English."""
    return make_staff(role, dealer=dealer, language="en")


def fresh(task_id: int) -> Task:
    """The task as stored now."""
    db.session.remove()
    t = db.session.get(Task, task_id)
    assert t is not None
    return t


@pytest.fixture
def world(app: Any) -> dict[str, Any]:
    """Dealer A (two advisors, a manager, five tasks) and dealer B (one advisor, one task)."""
    a, b = make_dealer(name="A店"), make_dealer(name="B店")
    s1, s2, mgr = staff(Role.DEALER_STAFF, a), staff(Role.DEALER_STAFF, a), staff(Role.DEALER_MANAGER, a)
    sb = staff(Role.DEALER_STAFF, b)
    ca, cb = make_customer(a, name="张三", mobile="13812345678"), make_customer(b, name="B客户")
    return dict(a=a, b=b, s1=s1, s2=s2, mgr=mgr, sb=sb, ca=ca, cb=cb,
                later=task(ca, 5, None, "LATER-UNASSIGNED"), today=task(ca, 0, s1, "TODAY-MINE"),
                overdue=task(ca, -3, s1, "OVERDUE-MINE"), other=task(ca, -5, s2, "COLLEAGUE"),
                bt=task(cb, -1, sb, "B-SECRET"))


def order_on_page(html: str) -> list[int]:
    """Task ids in the order the list shows them."""
    return [int(x) for x in re.findall(r'data-task="(\d+)"', html)]


def test_staff_see_own_and_unassigned_overdue_first(client: Any, world: dict[str, Any]) -> None:
    w = world
    login(client, w["s1"].username)
    html = text(client.get("/admin/tasks/"))
    assert order_on_page(html) == [w["overdue"].id, w["today"].id, w["later"].id]
    assert "COLLEAGUE" not in html and "B-SECRET" not in html
    assert "3 days overdue" in html and "138****5678" in html and "13812345678" not in html
    assert 'data-count="overdue">1<' in html and 'data-count="today">1<' in html
    assert client.get(f"/admin/tasks/{w['other'].id}").status_code == 404
    assert client.get(f"/admin/tasks/{w['bt'].id}").status_code == 404
    mine = text(client.get("/admin/tasks/?mine=1"))
    assert order_on_page(mine) == [w["overdue"].id, w["today"].id]


def test_manager_sees_the_whole_dealer_and_never_another(client: Any, world: dict[str, Any]) -> None:
    w = world
    login(client, w["mgr"].username)
    html = text(client.get("/admin/tasks/"))
    assert order_on_page(html) == [w["other"].id, w["overdue"].id, w["today"].id, w["later"].id]
    assert "13812345678" in html                       # managers see whole numbers
    assert order_on_page(text(client.get(f"/admin/tasks/?assignee={w['s2'].id}"))) == [w["other"].id]
    assert client.get(f"/admin/tasks/{w['bt'].id}").status_code == 404


def test_other_dealer_staff_see_only_their_own(client: Any, world: dict[str, Any]) -> None:
    w = world
    login(client, w["sb"].username)
    assert order_on_page(text(client.get("/admin/tasks/"))) == [w["bt"].id]
    assert client.get(f"/admin/tasks/{w['later'].id}").status_code == 404


def test_outcome_lands_on_the_timeline_with_an_audit_row_once(client: Any, world: dict[str, Any]) -> None:
    w = world
    login(client, w["s1"].username)
    t = w["overdue"]
    resp = post(client, f"/admin/tasks/{t.id}/close", {"outcome": "reached", "note": "车况很好，下月保养"}, follow=True)
    assert "Outcome recorded." in text(resp)
    done = fresh(t.id)
    assert (done.status, done.outcome, done.done_by) == (TaskStatus.DONE, "reached", w["s1"].id)
    entries = db.session.scalars(sa.select(TimelineEntry).where(TimelineEntry.customer_id == w["ca"].id,
                                                                TimelineEntry.kind == "task")).all()
    assert [(e.detail["outcome"], e.detail["text"], e.detail["title"]) for e in entries] == [
        ("reached", "车况很好，下月保养", "OVERDUE-MINE")]
    assert db.session.scalar(sa.select(sa.func.count(AuditLog.id)).where(
        AuditLog.action == "task.close", AuditLog.target_id == str(t.id))) == 1
    again = post(client, f"/admin/tasks/{t.id}/close", {"outcome": "no_answer"}, follow=True)
    assert "This task is already closed." in text(again)
    assert fresh(t.id).outcome == "reached"
    page = text(client.get(f"/admin/customers/{w['ca'].id}"))
    assert "Follow-up done" in page                 # the timeline entry (its details: see _timeline_item.html)


def test_bad_input_changes_nothing(client: Any, world: dict[str, Any]) -> None:
    w = world
    login(client, w["s1"].username)
    t = w["today"]
    cases = [({"outcome": "other", "note": "  "}, "Please write a note for this outcome."),
             ({"outcome": "complaint"}, "Please write a note for this outcome."),
             ({"outcome": "maybe"}, "Please choose an outcome."),
             ({"outcome": "reached", "note": "x" * 1001}, "at most 1000 characters"),
             ({"outcome": "call_back", "call_back_on": local_today().isoformat()}, "Please choose a date after today."),
             ({"outcome": "call_back", "call_back_on": (local_today() + timedelta(days=91)).isoformat()},
              "within 90 days"),
             ({"outcome": "call_back", "call_back_on": "not-a-date"}, "Please choose a date.")]
    for data, message in cases:
        assert message in text(post(client, f"/admin/tasks/{t.id}/close", data, follow=True)), data
    assert post(client, f"/admin/tasks/{t.id}/postpone", {"due_on": "", "reason": "x"}).status_code == 303
    assert fresh(t.id).status == TaskStatus.OPEN and fresh(t.id).due_on == local_today()
    assert db.session.scalar(sa.select(sa.func.count(AuditLog.id)).where(AuditLog.target_type == "task")) == 0
    assert db.session.scalar(sa.select(sa.func.count(TimelineEntry.id)).where(TimelineEntry.kind == "task")) == 0
    # a colleague's task and a manager's actions are refused to an advisor
    assert post(client, f"/admin/tasks/{w['other'].id}/close", {"outcome": "reached"}).status_code == 404
    assert post(client, f"/admin/tasks/{t.id}/reassign", {"assignee": w["s2"].id}).status_code == 403
    assert post(client, f"/admin/tasks/{t.id}/cancel", {"reason": "dup"}).status_code == 403
    assert fresh(t.id).assignee_id == w["s1"].id


def test_call_back_makes_a_manual_task_and_postpone_moves_the_date(client: Any, world: dict[str, Any]) -> None:
    w = world
    login(client, w["s1"].username)
    day = local_today() + timedelta(days=7)
    post(client, f"/admin/tasks/{w['today'].id}/close", {"outcome": "call_back", "note": "周末再打",
                                                        "call_back_on": day.isoformat()})
    new = db.session.scalar(sa.select(Task).where(Task.dedupe_key == f"call_back:{w['today'].id}"))
    assert new is not None and (new.rule, new.due_on, new.assignee_id, new.customer_id) == (
        TaskRule.MANUAL, day, w["s1"].id, w["ca"].id)
    later = local_today() + timedelta(days=2)
    post(client, f"/admin/tasks/{w['overdue'].id}/postpone", {"due_on": later.isoformat(), "reason": "客户出差"})
    assert fresh(w["overdue"].id).due_on == later
    log = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "task.postpone"))
    assert log is not None and log.detail["reason"] == "客户出差"


def test_manager_reassigns_within_the_dealer_and_cancels(client: Any, world: dict[str, Any]) -> None:
    w = world
    login(client, w["mgr"].username)
    t = w["later"]
    assert "Please choose an active staff member" in text(
        post(client, f"/admin/tasks/{t.id}/reassign", {"assignee": w["sb"].id}, follow=True))
    assert fresh(t.id).assignee_id is None
    post(client, f"/admin/tasks/{t.id}/reassign", {"assignee": w["s2"].id})
    assert fresh(t.id).assignee_id == w["s2"].id
    assert "Please give a reason." in text(post(client, f"/admin/tasks/{t.id}/cancel", {"reason": ""}, follow=True))
    post(client, f"/admin/tasks/{t.id}/cancel", {"reason": "客户已到店"})
    assert (fresh(t.id).status, fresh(t.id).outcome_note) == (TaskStatus.CANCELLED, "客户已到店")
    assert post(client, f"/admin/tasks/{w['bt'].id}/cancel", {"reason": "x"}).status_code == 404


def test_manual_task_from_the_customer_page(client: Any, world: dict[str, Any]) -> None:
    w = world
    login(client, w["s1"].username)
    page = text(client.get(f"/admin/customers/{w['ca'].id}"))
    assert 'id="task-new"' in page and "TODAY-MINE" in page and "COLLEAGUE" not in page
    due = (local_today() + timedelta(days=1)).isoformat()
    resp = post(client, "/admin/tasks/new", {"customer_id": w["ca"].id, "title": "邀约两万公里保养", "due_on": due},
                follow=True)
    assert "Task added." in text(resp) and "邀约两万公里保养" in text(resp)
    made = db.session.scalar(sa.select(Task).where(Task.title == "邀约两万公里保养"))
    assert made is not None and (made.assignee_id, made.created_by, made.rule) == (w["s1"].id, w["s1"].id, "manual")
    assert "Please say what to do." in text(post(client, "/admin/tasks/new", {
        "customer_id": w["ca"].id, "title": " ", "due_on": due}, follow=True))
    assert post(client, "/admin/tasks/new", {"customer_id": w["cb"].id, "title": "x", "due_on": due}).status_code == 404
    assert post(client, "/admin/tasks/new", {"customer_id": w["ca"].id, "title": "x", "due_on": due,
                                              "assignee": w["s2"].id}).status_code == 403
