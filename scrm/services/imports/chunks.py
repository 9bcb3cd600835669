"""Reading ahead: the next chunks of parsed rows are read and validated on a thread while this chunk is
written (the database wait releases the GIL), a bounded number at a time."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable, Iterator
from itertools import islice

from scrm.services.imports.customers import ParsedRow


def read_ahead(chunks: Iterator[list[ParsedRow]], depth: int = 2) -> Generator[list[ParsedRow], None, None]:
    """Read and validate the next chunks on a thread while this one is written (the database wait releases
    the GIL); at most `depth` chunks wait, so memory stays bounded. A reading error is raised here."""
    slots: queue.Queue[tuple[list[ParsedRow] | None, BaseException | None]] = queue.Queue(depth)
    stop = threading.Event()

    def hand_over(item: tuple[list[ParsedRow] | None, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not hand_over((chunk, None)):
                    return
            hand_over((None, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            hand_over((None, exc))
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # a parsing process stops at once

    thread = threading.Thread(target=produce, name="import-reader", daemon=True)
    thread.start()
    try:
        while True:
            chunk, error = slots.get()
            if error is not None:
                raise error
            if chunk is None:
                return
            yield chunk
    finally:
        stop.set()
        thread.join(timeout=5)


def chunks_of(rows: Iterable[ParsedRow], size: int) -> Iterator[list[ParsedRow]]:
    """The rows in lists of `size`."""
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk
