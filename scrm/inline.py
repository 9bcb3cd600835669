"""Inline attempts: run a push's dispatch on the request's own thread, abandoned at the first wait.

The reply budget runs a dispatch on a worker thread so that a slow handler can be answered with
`success` in time. Most pushes need no such protection: a keyword reply, the help text or a menu
card is answered from memory in well under a millisecond, and the hand-over to the worker thread
cost about a fifth of such a push's CPU. So the webhook's hot path first tries the dispatch here:

* inside `attempt()`, the database session, the engine and the Redis client call `check()` before
  any statement or command, and a route that was not declared instant calls it before its handler
  runs; `check()` raises `NeedsIO` there;
* the caller then drops everything the attempt built (nothing left the process: no statement, no
  command, no write-behind entry) and runs the push the budgeted way from the start.

`NeedsIO` derives from BaseException, so a handler's `except Exception` cannot swallow it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

_state = threading.local()


class NeedsIO(BaseException):
    """Raised inside an inline attempt where the work would wait on something outside the process."""


def active() -> bool:
    """Whether this thread is inside an inline attempt."""
    return getattr(_state, "active", False)


def check(what: str) -> None:
    """Call before waiting on `what` (a database, Redis, a handler that may block): abandons an attempt."""
    if getattr(_state, "active", False):
        raise NeedsIO(what)


@contextmanager
def attempt() -> Iterator[None]:
    """Run the block as an inline attempt (not nestable: an attempt inside one is the same attempt)."""
    outer = active()
    _state.active = True
    try:
        yield
    finally:
        _state.active = outer
