"""A bulk job freezes the heap and spaces full collections out, and leaves both as they were when the last
job of the process ends (also when jobs overlap, or one fails)."""

from __future__ import annotations

import gc

import pytest

from scrm.heap import FULL_PASS_SPACING, frozen_heap


def test_the_heap_is_frozen_while_a_job_runs_and_given_back_after() -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with frozen_heap():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (before[0], before[1], before[2] * FULL_PASS_SPACING)
        with frozen_heap():  # a second job in the same process
            assert gc.get_threshold()[2] == before[2] * FULL_PASS_SPACING
        assert gc.get_freeze_count() > 0   # the first job still runs
        garbage = [[]]
        garbage[0].append(garbage)  # a cycle made during the job is still collected
        del garbage
        assert gc.collect() >= 1
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before


def test_a_failing_job_gives_the_heap_back() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), frozen_heap():
        raise RuntimeError("the import failed")
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == before
