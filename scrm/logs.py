"""Process logging: one format for every role; third-party chatter turned down."""

from __future__ import annotations

import logging
import os

QUIET = ("alembic", "apscheduler.executors.default", "apscheduler.scheduler", "werkzeug", "urllib3")


def setup_logging() -> None:
    """Configure the root logger from SCRM_LOG_LEVEL (default INFO)."""
    logging.basicConfig(level=os.environ.get("SCRM_LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s")
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
