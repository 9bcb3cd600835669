"""A web worker's memory: building the app loads nothing only background jobs need (issue 2: under 150 MB each)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Building the app measured 103 MB resident; the heavy libraries of the background jobs would add to it
# (pypinyin's dictionaries alone: 55 MB).
BUDGET_MB = 130
JOB_ONLY = ("pypinyin",)

_PROBE = """
import json, os, sys
from scrm import create_app
create_app()
rss = int(open(f"/proc/{os.getpid()}/status").read().split("VmRSS:")[1].split()[0]) / 1024
print(json.dumps({"rss_mb": rss, "modules": sorted(m for m in sys.modules if "." not in m)}))
"""


def _probe(tmp_path: Path) -> dict[str, object]:
    env = {**os.environ, "SCRM_APP_SECRET_KEY": "footprint-test-secret-0123456789",
           "SCRM_DATABASE_URL": f"sqlite:///{tmp_path / 'footprint.db'}", "SCRM_REDIS_URL": "memory://footprint",
           "SCRM_CONFIG": str(tmp_path / "absent.toml")}
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_the_web_app_leaves_job_only_libraries_unloaded(tmp_path: Path) -> None:
    seen = _probe(tmp_path)
    modules = seen["modules"]
    assert isinstance(modules, list)
    assert [m for m in JOB_ONLY if m in modules] == []
    rss = seen["rss_mb"]
    assert isinstance(rss, float) and rss < BUDGET_MB, f"building the app takes {rss:.0f} MB"
