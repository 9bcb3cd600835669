"""`scrm sandbox`: the fake API and phone simulator served on their own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_sandbox_app_has_only_the_sandbox(settings: Any, app: Any) -> None:
    from scrm.sandbox.server import create_sandbox_app

    client = create_sandbox_app(settings).test_client()
    r = client.get("/sandbox/wx/cgi-bin/token", query_string={
        "grant_type": "client_credential", "appid": "wxdemo0000000001", "secret": "demosecret"})
    assert "access_token" in r.get_json()
    assert client.get("/sandbox/phone/?account=demo").status_code == 200
    assert client.get("/wechat/demo").status_code == 404
    assert client.get("/admin/login").status_code == 404


def test_scrm_sandbox_command_serves_until_stopped(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "sandbox.toml"
    config.write_text(f"""
[app]
secret_key = "standalone-sandbox-secret-key"
public_url = "http://127.0.0.1:{port}"
[database]
url = "sqlite:///{tmp_path / 'sbx.db'}"
[redis]
url = "memory://"
[accounts.shop]
name = "独立沙箱"
app_id = "wxstandalone00001"
app_secret = "standalonesecret"
token = "standalonetoken"
api_base_url = "http://127.0.0.1:{port}/sandbox/wx"
""", encoding="utf-8")
    env = {**os.environ, "SCRM_CONFIG": str(config)}
    proc = subprocess.Popen([sys.executable, "-m", "scrm.cli", "sandbox", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        answer: dict[str, Any] = {}
        for _ in range(100):
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/sandbox/wx/cgi-bin/token", timeout=1, params={
                    "grant_type": "client_credential", "appid": "wxstandalone00001",
                    "secret": "standalonesecret"}).json()
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert "access_token" in answer, answer
        page = requests.get(f"http://127.0.0.1:{port}/sandbox/phone/", timeout=5)
        assert page.status_code == 200 and "独立沙箱" in page.text
        overview = requests.get(f"http://127.0.0.1:{port}/sandbox/phone/api/overview?account=shop", timeout=5)
        assert overview.json()["scenes"] == []          # no product database here: no scenes, no error
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert b"/sandbox/phone/" in out
