"""Serving the web role: gunicorn in production, Flask's server with --dev."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from scrm.config import Settings

# A worker is replaced after this many requests (a guard against slow leaks). Building the app costs a new
# worker up to 1.8 s of CPU (measured in a fresh process), so at the webhook's rate (1,000 pushes a second
# and more per worker) the old 20,000 meant a rebuild every 20 seconds; this is one every quarter hour or so.
MAX_REQUESTS = 1_000_000


def _gunicorn_app(app_factory: Any, options: dict[str, Any]) -> Any:
    from gunicorn.app.base import BaseApplication

    class ScrmGunicorn(BaseApplication):  # type: ignore[misc]
        """gunicorn driven from code, so `scrm web` needs no separate config file."""

        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings and value is not None:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            return app_factory()

    return ScrmGunicorn()


def _child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def _worker_exit(_server: Any, _worker: Any) -> None:
    from scrm.services import writebehind

    writebehind.shutdown()  # buffered push bookkeeping must reach the database before the worker goes


def serve_web(settings: Settings, *, config_path: str | None, host: str, port: int, workers: int,
              dev: bool = False, threads: int = 8) -> None:
    """Serve the web role on host:port (gunicorn gthread workers unless `dev`)."""
    if dev:
        from scrm import create_app

        create_app(settings).run(host=host, port=port, threaded=True)
        return
    if config_path:
        os.environ["SCRM_CONFIG"] = config_path
    # Metrics from several worker processes are summed through files in this directory.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="scrm-metrics-"))

    def factory() -> Any:
        from scrm import create_app

        return create_app(settings)

    _gunicorn_app(factory, {
        "bind": f"{host}:{port}", "workers": workers, "worker_class": "gthread", "threads": threads,
        "timeout": 30, "graceful_timeout": 20, "keepalive": 5, "accesslog": None,
        "child_exit": _child_exit, "worker_exit": _worker_exit,
        "max_requests": MAX_REQUESTS, "max_requests_jitter": MAX_REQUESTS // 10,
        "proc_name": "scrm-web",
    }).run()
