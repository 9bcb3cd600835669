"""Prometheus metrics; multi-process safe when PROMETHEUS_MULTIPROC_DIR is set (gunicorn)."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

WEBHOOK_REQUESTS = Counter("scrm_webhook_requests_total", "Webhook requests by outcome", ["account", "outcome"])
WEBHOOK_SECONDS = Histogram("scrm_webhook_seconds", "Webhook handling time", ["account"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
HANDLER_ERRORS = Counter("scrm_handler_errors_total", "Handler exceptions caught by the dispatcher", ["handler"])
WEBHOOK_DISPATCHES = Counter("scrm_webhook_dispatches_total",
                             "Hot-path dispatches by the thread they ran on: the request's own (no I/O needed) "
                             "or the reply budget's", ["thread"])
WEBHOOK_ONE_TRIP_MISSED = Counter("scrm_webhook_one_trip_missed_total",
                                  "Hot-path pushes that took two Redis round trips instead of one, by why: a "
                                  "follower this process had not seen, a dispatch needing I/O or changing state, a "
                                  "retry, a busy follower, or Redis holding other than this process last saw",
                                  ["reason"])
DEFERRED_REPLIES = Counter("scrm_deferred_replies_total", "Replies that missed the budget and went to the outbox")
DELIVERIES = Counter("scrm_deliveries_total", "Outbox rows finished by status", ["channel", "status"])
WRITE_BEHIND_LOST = Counter("scrm_write_behind_lost_total",
                            "Push bookkeeping entries lost after a failed write-behind flush and its retry")
WECHAT_API_CALLS = Counter("scrm_wechat_api_calls_total", "Calls to the WeChat API", ["endpoint", "errcode"])


def render() -> tuple[bytes, str]:
    """The exposition text for /metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
