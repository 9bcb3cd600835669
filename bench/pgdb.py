"""Throw-away PostgreSQL databases for the benchmarks: created and migrated, then dropped."""

from __future__ import annotations

import os

import sqlalchemy as sa

PG_ADMIN = os.environ.get("SCRM_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _admin(sql: str) -> None:
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(sa.text(sql))
    engine.dispose()


def database_url(name: str) -> str:
    """The URL of database `name` on the benchmark server."""
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def prepare_database(name: str) -> str:
    """Create database `name`, migrate it with the project's migration, and return its URL."""
    _admin(f'CREATE DATABASE "{name}"')
    url = database_url(name)
    from scrm.migrate import upgrade

    upgrade(url)
    return url


def drop_database(name: str) -> None:
    """Drop database `name`, closing any connection still open to it."""
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
