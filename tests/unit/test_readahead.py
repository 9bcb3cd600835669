"""read_ahead: the same items in order, a producer's error raised to the consumer, an early stop ends the thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from scrm.readahead import read_ahead


def test_items_come_in_order() -> None:
    assert list(read_ahead(iter(range(100)), depth=3)) == list(range(100))


def test_an_error_producing_is_raised_to_the_consumer() -> None:
    def items() -> Iterator[int]:
        yield 1
        raise ValueError("bad row")

    ahead = read_ahead(items())
    assert next(ahead) == 1
    with pytest.raises(ValueError, match="bad row"):
        next(ahead)


def test_closing_early_stops_the_thread_and_closes_the_source() -> None:
    closed = threading.Event()

    def items() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()

    before = threading.active_count()
    ahead = read_ahead(items(), name="test-ahead")
    assert [next(ahead) for _ in range(5)] == [0, 1, 2, 3, 4]
    ahead.close()
    assert closed.is_set()                                   # the endless source was closed, not left running
    assert threading.active_count() == before
    assert not any(t.name == "test-ahead" for t in threading.enumerate())
