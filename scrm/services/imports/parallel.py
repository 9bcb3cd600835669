"""Validate a big file in a second process while this one writes: the parsing (CSV reading and every
field rule) is about half the CPU of an import, and a process, unlike a thread, runs it on the other core.

The helper process opens the same file, maps the same columns and sends the parsed rows back in order, a
chunk at a time, through a bounded queue (so memory stays bounded whatever the file's size). It never
touches the database (the connections it inherits are left alone: it ends with os._exit) and takes the
default signal handlers, so stopping it always works. It is forked where the platform can (instant, and no
re-import of the main script, which `spawn` needs); only files above `MIN_ROWS` rows use it.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator
from itertools import islice
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from scrm.services.imports.customers import ParsedRow
from scrm.services.imports.readers import Cell, open_table

MIN_ROWS = 20_000  # below this, a second process saves too little to be worth it
DEPTH = 3  # chunks that may wait in the queue
_POLL = 1.0  # seconds between checks that the helper is still alive
Parse = Callable[[int, dict[str, Cell], dict[str, str]], ParsedRow]


class ParserDied(RuntimeError):
    """The helper process ended without sending the end of the file (killed, or out of memory)."""


def parsed_chunks(path: Path, parse: Parse, columns: dict[str, str], size: int) -> Iterator[list[ParsedRow]]:
    """The rows of `path` parsed by `parse`, in file order, in lists of `size`, validated in a helper process."""
    ctx: Any = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    slots: Any = ctx.Queue(DEPTH)
    proc = ctx.Process(target=_produce, args=(str(path), parse, columns, size, slots, os.getpid()),
                       name="import-parser", daemon=True)
    proc.start()
    try:
        while True:
            kind, payload = _next(slots, proc)
            if kind == "rows":
                yield payload
            elif kind == "error":
                raise payload
            else:
                return
    finally:
        _stop(proc, slots)


def _next(slots: Any, proc: BaseProcess) -> tuple[str, Any]:
    while True:
        try:
            item: tuple[str, Any] = slots.get(timeout=_POLL)
            return item
        except queue.Empty:
            if not proc.is_alive():
                raise ParserDied(f"the import's parsing process stopped (exit code {proc.exitcode})") from None


def _stop(proc: BaseProcess, slots: Any) -> None:
    """End the helper (at once when the import stopped early) and release the queue."""
    if proc.is_alive():
        proc.terminate()
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
    proc.join(timeout=5)
    slots.close()
    slots.cancel_join_thread()  # what is left in the pipe is not needed any more


def _produce(path: str, parse: Parse, columns: dict[str, str], size: int, slots: Any, parent: int) -> None:
    """In the helper process: parse the file and put ("rows", chunk) items, then ("end", None)."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)  # not the parent's handlers (a worker's "stop" flag)

    threading.Thread(target=_watch, args=(parent,), name="import-parser-watch", daemon=True).start()
    put = slots.put
    try:
        with open_table(Path(path)) as table:
            rows = (parse(line, cells, columns) for line, cells in table)
            while chunk := list(islice(rows, size)):
                put(("rows", chunk))
        put(("end", None))
    except BaseException as exc:  # handed to the importing process, which raises it
        put(("error", _portable(exc)))


def _watch(parent: int) -> None:
    """In the helper process: end at once when the importing process is gone (killed), so the database
    connections this forked copy inherited close with it instead of keeping its transaction's locks."""
    while os.getppid() == parent:
        time.sleep(_POLL)
    os._exit(1)


def _portable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling, else a RuntimeError that says what it was."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 (our own object, round-tripped in memory)
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
