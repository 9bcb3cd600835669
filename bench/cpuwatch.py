"""CPU seconds used by the parts of a benchmark: process trees, one database's backends, Redis.

Read from /proc (Linux); elsewhere every figure is 0. Backends come and go with their clients, so a
thread samples them every `interval` seconds and keeps each one's last reading (a backend's last
fraction of a second before it exits can be missed).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import sqlalchemy as sa

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of one process (its threads included), 0.0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return out


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its living descendants."""
    return sum(process_cpu(p) for p in tree(pid))


def pid_of(name: str) -> int | None:
    """The pid of the first process whose command name is `name` (e.g. redis-server)."""
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() == name:
                    return int(d.name)
            except OSError:
                continue
    return None


class Backends:
    """Samples the CPU of every backend connected to one database until stopped."""

    def __init__(self, admin_url: str, database: str, interval: float = 0.2) -> None:
        self._engine = sa.create_engine(admin_url, poolclass=sa.pool.NullPool)
        self._database, self._interval = database, interval
        self._last: dict[int, float] = {}
        self._start: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Backends:
        self._sample()
        self._start = dict(self._last)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self._engine.dispose()

    def _sample(self) -> None:
        with self._engine.connect() as c:
            pids = c.scalars(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :d"),
                             {"d": self._database}).all()
        for pid in pids:
            cpu = process_cpu(int(pid))
            if cpu:
                self._last[int(pid)] = cpu

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    @property
    def seconds(self) -> float:
        """CPU seconds the backends used since the start."""
        return sum(cpu - self._start.get(pid, 0.0) for pid, cpu in self._last.items())
