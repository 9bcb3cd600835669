"""The hot path's lock tokens differ between forked workers (each reseeds its generator)."""

from __future__ import annotations

import os

import pytest

from scrm.wechat import fastpath


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork, as gunicorn's workers are made")
def test_forked_workers_draw_different_tokens() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one token, then out without running the parent's clean-up
        os.write(write, f"{fastpath._tokens.getrandbits(128):032x}".encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    mine = f"{fastpath._tokens.getrandbits(128):032x}"
    assert len(child) == 32 and child != mine
