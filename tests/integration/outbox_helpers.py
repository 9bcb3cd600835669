"""Helpers for the client, token, outbox and worker tests (no fakes of our own code)."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from scrm import db, runtime
from scrm.config import AccountSettings, Settings
from scrm.models import Delivery


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def to_toml(raw: dict[str, Any]) -> str:
    """A TOML document for a settings dict of the conftest's shape (sections, and [accounts.<slug>])."""
    lines: list[str] = []
    for section, values in raw.items():
        if section == "accounts":
            for slug, acc in values.items():
                lines.append(f"[accounts.{slug}]")
                lines.extend(f"{k} = {_toml_value(v)}" for k, v in acc.items())
                lines.append("")
            continue
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in values.items())
        lines.append("")
    return "\n".join(lines)


def reload_delivery(delivery_id: int) -> Delivery:
    """The row as the database has it now (a fresh session: workers update rows with Core statements)."""
    db.session.remove()
    row = db.session.get(Delivery, delivery_id)
    assert row is not None
    return row


def all_deliveries() -> list[Delivery]:
    """Every delivery row, freshly read."""
    db.session.remove()
    return list(db.session.scalars(sa.select(Delivery).order_by(Delivery.id)))


@contextmanager
def override_settings(**changes: Any) -> Iterator[Settings]:
    """Run with some settings sections replaced (`outbox=replace(...)`, `accounts={...}`), then restore."""
    rt = runtime.get()
    original = rt.settings
    rt.settings = dataclasses.replace(original, **changes)
    try:
        yield rt.settings
    finally:
        rt.settings = original


def with_outbox(**fields: Any) -> Settings:
    """The current settings with some [outbox] values changed."""
    s = runtime.get().settings
    return dataclasses.replace(s, outbox=dataclasses.replace(s.outbox, **fields))


def account_at(account: AccountSettings, base_url: str) -> AccountSettings:
    """The same account, talking to another API base URL."""
    return dataclasses.replace(account, api_base_url=base_url)


def seed_token(account: AccountSettings, value: str, expires_in: float = 7200, lifetime: float = 7200) -> None:
    """Put a token in the shared store as if another process had fetched it `lifetime - expires_in` s ago."""
    now = time.time()
    fetched = now - max(0.0, lifetime - expires_in)
    runtime.get().redis.set(runtime.get().key("token", account.app_id),
                            json.dumps({"token": value, "expires_at": now + expires_in, "fetched_at": fetched}))


def closed_port() -> int:
    """A local port with nothing listening (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BlackHole:
    """A TCP listener that accepts connections, reads the request and never answers (a hung WeChat)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self._conns.append(conn)

    def __enter__(self) -> BlackHole:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self._conns:
            conn.close()
        self.sock.close()
