"""Health, readiness and metrics endpoints."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration


def test_healthz(client: Any) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_reports_database_and_redis(client: Any) -> None:
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_json()["checks"] == {"database": "ok", "redis": "ok"}


def test_metrics_exposes_prometheus_text(client: Any) -> None:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert b"scrm_webhook_requests_total" in resp.data
