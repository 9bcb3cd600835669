"""Alembic: upgrade head on an empty database matches the models exactly."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

pytestmark = pytest.mark.integration


def test_upgrade_head_matches_models(app: Any, database_url: str) -> None:
    import scrm.models  # noqa: F401
    from scrm.db import Base

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn, warnings.catch_warnings():
            if engine.dialect.name == "sqlite":
                # SQLite cannot reflect expression indexes (lower(name), substr(mobile, ...)), so neither
                # SQLAlchemy nor Alembic can compare them there; the PostgreSQL run compares every index.
                warnings.filterwarnings("ignore", r"Skipped unsupported reflection of expression-based index")
                warnings.filterwarnings("ignore", r"autogenerate skipping metadata-specified expression-based index")
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
            assert diff == [], f"models and migrations differ: {diff}"
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            assert version
    finally:
        engine.dispose()
