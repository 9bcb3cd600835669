"""Making many rule tasks at once: the subjects that already have a task are found in one query, advisors are
chosen with the same policy as `tasks.pick_assignee` from figures loaded once per run, and the new tasks go
in with multi-row INSERT ... ON CONFLICT DO NOTHING (the unique key still guards a racing scheduler).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import CustomerBinding, Follower, Role, StaffUser, Task, TaskStatus
from scrm.services.tasks import KEY_LEN, NewTask, task_values

CHUNK = 1000


def existing_keys(s: Session, keys: Iterable[str]) -> set[str]:
    """Which of these dedupe keys already have a task."""
    wanted = sorted({k[:KEY_LEN] for k in keys})
    found: set[str] = set()
    for i in range(0, len(wanted), CHUNK):
        found.update(s.scalars(sa.select(Task.dedupe_key).where(Task.dedupe_key.in_(wanted[i:i + CHUNK]))))
    return found


class Assigner:
    """`tasks.pick_assignee` for a batch: the QR-code owners of the batch's customers and followers in one
    query, each dealer's active staff with their open-task counts once, counts moving as tasks are given."""

    def __init__(self, s: Session, news: list[NewTask]) -> None:
        customers = {n.customer_id for n in news if n.customer_id is not None}
        self._followers: dict[int, set[int]] = defaultdict(set)        # customer -> its followers
        for ids in _chunks(sorted(customers)):
            for cid, fid in s.execute(sa.select(CustomerBinding.customer_id, CustomerBinding.follower_id)
                                      .where(CustomerBinding.customer_id.in_(ids))):
                self._followers[int(cid)].add(int(fid))
        all_followers = {f for fs in self._followers.values() for f in fs}
        all_followers |= {n.follower_id for n in news if n.follower_id is not None}
        # follower -> (staff, staff's dealer) for followers brought by an active staff member's QR code
        self._brought: dict[int, tuple[int, int]] = {}
        for ids in _chunks(sorted(all_followers)):
            for fid, sid, did in s.execute(
                    sa.select(Follower.id, StaffUser.id, StaffUser.dealer_id)
                    .join(StaffUser, StaffUser.id == Follower.staff_id)
                    .where(Follower.id.in_(ids), StaffUser.active.is_(True))):
                if did is not None:
                    self._brought[int(fid)] = (int(sid), int(did))
        self._staff: dict[int, list[list[int]]] = {}                  # dealer -> [[manager?, open, id], ...]
        self._s = s

    def pick(self, new: NewTask) -> int | None:
        """The advisor for one task of the batch (and count it as theirs)."""
        followers = set(self._followers.get(new.customer_id or 0, ()))
        if new.follower_id:
            followers.add(new.follower_id)
        for fid in sorted(followers):
            owner = self._brought.get(fid)
            if owner is not None and owner[1] == new.dealer_id:
                self._count(new.dealer_id, owner[0])
                return owner[0]
        staff = self._load(new.dealer_id)
        if not staff:
            return None
        best = min(staff)
        best[1] += 1
        return best[2]

    def _count(self, dealer_id: int, staff_id: int) -> None:
        for entry in self._load(dealer_id):
            if entry[2] == staff_id:
                entry[1] += 1

    def _load(self, dealer_id: int) -> list[list[int]]:
        if dealer_id not in self._staff:
            open_tasks = (sa.select(sa.func.count(Task.id)).where(Task.assignee_id == StaffUser.id,
                                                                  Task.status == TaskStatus.OPEN)
                          .correlate(StaffUser).scalar_subquery())
            self._staff[dealer_id] = [
                [1 if role == Role.DEALER_MANAGER else 0, int(n), int(sid)]
                for sid, role, n in self._s.execute(sa.select(StaffUser.id, StaffUser.role, open_tasks).where(
                    StaffUser.dealer_id == dealer_id, StaffUser.active.is_(True),
                    StaffUser.role.in_([Role.DEALER_STAFF, Role.DEALER_MANAGER])))]
        return self._staff[dealer_id]


def create_many(s: Session, news: list[NewTask]) -> int:
    """Insert the tasks whose dedupe key is new; how many were made."""
    seen = existing_keys(s, (n.dedupe_key for n in news))
    fresh: dict[str, NewTask] = {}
    for n in news:
        key = n.dedupe_key[:KEY_LEN]
        if key not in seen and key not in fresh:
            fresh[key] = n
    if not fresh:
        return 0
    assigner = Assigner(s, list(fresh.values()))
    now = db.utcnow()
    rows = [task_values(n, n.assignee_id if n.assignee_id is not None else assigner.pick(n), now)
            for n in fresh.values()]
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    made = 0
    for i in range(0, len(rows), CHUNK):
        stmt = insert(Task).values(rows[i:i + CHUNK]).on_conflict_do_nothing(index_elements=["dedupe_key"])
        made += len(s.execute(stmt.returning(Task.id)).all())
    return made


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield ids[i:i + CHUNK]
