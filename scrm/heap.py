"""Bulk jobs and the garbage collector.

A bulk job (an import of a million rows) allocates millions of short-lived containers. Each time enough
of them have lived through a batch, CPython runs a full collection, and a full collection walks every
object of the process: the app, SQLAlchemy's mappers, the caches, a million or more objects that will
never be garbage. Measured on a 300,000-row import: a quarter to a third of the importing process's CPU. Freezing the
heap as it is when the job starts moves those objects out of the collector's sight, and full passes come
ten times less often (each is then short: only what the job made since); what the job creates is still
collected. The heap is unfrozen and the thresholds restored when the last such job of the process ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_thresholds = gc.get_threshold()
FULL_PASS_SPACING = 10  # how many times rarer full passes are during a bulk job


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the objects that exist now out of the collector's passes for the duration of a bulk job."""
    global _holders, _thresholds
    with _lock:
        if _holders == 0:
            _thresholds = gc.get_threshold()
            young, middle, old = _thresholds
            gc.set_threshold(young, middle, old * FULL_PASS_SPACING)
            gc.freeze()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                gc.unfreeze()
                gc.set_threshold(*_thresholds)
