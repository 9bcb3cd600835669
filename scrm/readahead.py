"""Reading ahead on a thread: the next items of an iterator are produced while the caller works on this one.

Worth it when producing waits on something that releases the GIL (a database fetch, a parsing process): two
cores instead of one. At most `depth` items wait, so memory stays bounded.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def read_ahead(items: Iterator[T], *, depth: int = 2, name: str = "read-ahead") -> Generator[T, None, None]:
    """The items of `items`, each produced on a thread ahead of its use; an error producing them is raised here.

    Closing the generator (or leaving it by an error) stops the thread, closes `items` if it can be closed and
    waits for the thread to end: whatever `items` reads from is the caller's alone again afterwards.
    """
    slots: queue.Queue[object] = queue.Queue(depth)
    stop = threading.Event()

    def hand_over(item: object) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand_over((item,)):
                    return
            hand_over(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            hand_over(exc)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # e.g. a parsing process stops at once

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while (got := slots.get()) is not _DONE:
            if isinstance(got, BaseException):
                raise got
            yield got[0]  # type: ignore[index]
    finally:
        stop.set()
        thread.join()
