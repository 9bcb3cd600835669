"""Shared fixtures: a throw-away PostgreSQL database and Redis key space, the app, a live server.

Integration tests use real PostgreSQL and Redis when they answer (always on CI, where their absence
is an error); elsewhere they fall back to a SQLite file and the in-process Redis stand-in.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("SCRM_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SCRM_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
RUN_ID = uuid.uuid4().hex[:8]
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def _pg_available() -> bool:
    try:
        eng = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(sa.text("SELECT 1"))
        eng.dispose()
        return True
    except Exception:
        return False


def _redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh PostgreSQL database for this run (dropped at the end), or a SQLite file."""
    if _pg_available():
        name = f"scrm_test_{RUN_ID}"
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        try:
            yield url
        finally:
            from scrm import db

            if db._engine is not None:
                db.session.remove()
                db._engine.dispose()
            with admin.connect() as c:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    else:
        if os.environ.get("CI"):
            pytest.exit("PostgreSQL is not reachable on CI", returncode=3)
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Real Redis when it answers (keys under a per-run prefix), else the in-process stand-in."""
    if _redis_available():
        return REDIS_URL
    if os.environ.get("CI"):
        pytest.exit("Redis is not reachable on CI", returncode=3)
    return "memory://tests"


@pytest.fixture(scope="session")
def live_port() -> int:
    """The port the live server will listen on (chosen before settings are built)."""
    return free_port()


def _sandbox_templates(app_id: str) -> dict[str, str]:
    """The booking notice template ids of a test account (the sandbox's preloaded ones).

    Flat `templates_<name>` keys (the form SCRM_ACCOUNTS_<SLUG>_TEMPLATES_<NAME> takes), so that
    outbox_helpers.to_toml, which writes only flat account keys, can write them to a config file.
    """
    from scrm.config import TEMPLATE_KEYS
    from scrm.sandbox.entities import template_id_for

    return {f"templates_{name}": template_id_for(app_id, name) for name in TEMPLATE_KEYS}


@pytest.fixture(scope="session")
def settings_dict(database_url: str, redis_url: str, live_port: int,
                  tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The raw settings the test app runs with: one plaintext and one safe-mode account."""
    base = f"http://127.0.0.1:{live_port}"
    return {
        "app": {"secret_key": "test-secret-key-0123456789", "public_url": base, "reply_budget_ms": 1500,
                "write_behind_ms": 0, "import_dir": str(tmp_path_factory.mktemp("imports"))},
        "database": {"url": database_url},
        "redis": {"url": redis_url, "prefix": f"scrmtest{RUN_ID}"},
        "outbox": {"rate_per_second": 200.0, "burst": 50, "poll_seconds": 0.05},
        "sandbox": {"enabled": True, "webhook_base_url": base},
        "accounts": {
            "demo": {"name": "测试品牌", "app_id": "wxdemo0000000001", "app_secret": "demosecret",
                     "token": "demotoken", "api_base_url": f"{base}/sandbox/wx",
                     **_sandbox_templates("wxdemo0000000001")},
            "safe": {"name": "安全模式", "app_id": "wxsafe0000000002", "app_secret": "safesecret",
                     "token": "safetoken", "encoding_aes_key": AES_KEY, "api_base_url": f"{base}/sandbox/wx",
                     **_sandbox_templates("wxsafe0000000002")},
        },
    }


@pytest.fixture(scope="session")
def settings(settings_dict: dict[str, Any]) -> Any:
    """Validated Settings for the test app."""
    from scrm.config import settings_from_dict

    return settings_from_dict(settings_dict)


@pytest.fixture(scope="session")
def app(settings: Any, database_url: str) -> Iterator[Any]:
    """The Flask app over a migrated database (alembic upgrade head)."""
    from scrm import create_app
    from scrm.migrate import upgrade

    upgrade(database_url)
    application = create_app(settings)
    application.config["TESTING"] = True
    yield application


def _truncate_all() -> None:
    from scrm import db
    from scrm.db import Base

    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    db.session.remove()
    with db.engine().begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(sa.text(f'DELETE FROM "{t}"'))  # noqa: S608 (our own table names)


def _clear_redis() -> None:
    from scrm import runtime

    rt = runtime.get()
    keys = list(rt.redis.scan_iter(match=rt.settings.redis.prefix + ":*", count=1000))
    if keys:
        rt.redis.delete(*keys)


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that uses the app starts with empty tables, Redis keys and sandbox state."""
    if "app" not in request.fixturenames and "live_server" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("app")
    from scrm.services import accounts, campaign_render

    _truncate_all()
    _clear_redis()
    accounts.forget_cache()
    campaign_render.forget_all()  # cached per campaign id; ids restart after the truncation
    _reset_sandbox()
    yield
    from scrm import db

    db.session.remove()


def _reset_sandbox() -> None:
    try:
        from scrm.sandbox.state import reset
    except ImportError:
        return
    reset()


@pytest.fixture(scope="session", autouse=True)
def _redis_cleanup_at_end() -> Iterator[None]:
    yield
    with contextlib.suppress(RuntimeError):  # the runtime may never have been set up
        _clear_redis()


@pytest.fixture
def client(app: Any) -> Any:
    """Flask test client."""
    return app.test_client()


class LiveServer:
    """The app served over real HTTP on a background thread (for the sandbox and the browser)."""

    def __init__(self, app: Any, port: int) -> None:
        from werkzeug.serving import make_server

        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._server = make_server("127.0.0.1", port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)


@pytest.fixture(scope="session")
def live_server(app: Any, live_port: int) -> Iterator[LiveServer]:
    """A running server on `live_port`; the sandbox's fake WeChat API lives at /sandbox/wx."""
    server = LiveServer(app, live_port)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app_ctx(app: Any) -> Iterator[Any]:
    """An application context for calling services directly."""
    with app.app_context():
        yield app


ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
