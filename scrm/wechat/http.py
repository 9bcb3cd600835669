"""Plain HTTP to WeChat for the calls wechatpy does not cover (stable_token, OAuth), and error mapping."""

from __future__ import annotations

import re
from typing import Any

import requests

from scrm import metrics
from scrm.wechat.errors import NetworkError, error_for

TIMEOUT_SECONDS = 3.0
_SECRETS = re.compile(r"((?:access_token|secret|code)=)[^&\s)'\"]+")


def scrub(text: str) -> str:
    """Remove tokens and secrets from a message before it reaches a log or a database column."""
    return _SECRETS.sub(r"\1***", text)


def count_call(endpoint: str, errcode: int | str) -> None:
    """Count one call in the Prometheus metric, labelled by WeChat's errcode (or a transport tag)."""
    metrics.WECHAT_API_CALLS.labels(endpoint=endpoint, errcode=str(errcode)).inc()


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly did not reach the server (connection refused, DNS, connect timeout)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError):
        text = repr(exc)
        return any(marker in text for marker in ("NewConnectionError", "NameResolutionError",
                                                 "Connection refused", "Failed to resolve"))
    return False


def transport_error(exc: requests.RequestException, endpoint: str, *, is_send: bool) -> NetworkError:
    """Map a requests exception to NetworkError; a send that may have gone out has an unknown outcome."""
    kind = "timeout" if isinstance(exc, requests.Timeout) else "network"
    count_call(endpoint, kind)
    unknown = is_send and not _never_sent(exc)
    return NetworkError(None, scrub(f"{type(exc).__name__}: {exc}")[:200], endpoint=endpoint,
                        unknown_outcome=unknown)


def http_status_error(status: int, endpoint: str, *, is_send: bool) -> NetworkError:
    """An HTTP error status from WeChat; a 5xx on a send leaves its outcome unknown only on 504."""
    count_call(endpoint, f"http{status}")
    return NetworkError(None, f"HTTP {status}", endpoint=endpoint, http_status=status,
                        unknown_outcome=is_send and status == 504)


def decode(resp: requests.Response, endpoint: str, account: str = "") -> dict[str, Any]:
    """The JSON body of a WeChat answer; errcode != 0 raises the matching WeChatError."""
    if resp.status_code >= 400:
        raise http_status_error(resp.status_code, endpoint, is_send=False)
    try:
        data = resp.json()
    except ValueError as exc:
        count_call(endpoint, "badjson")
        raise NetworkError(None, "WeChat answered with something that is not JSON", endpoint=endpoint) from exc
    if not isinstance(data, dict):
        count_call(endpoint, "badjson")
        raise NetworkError(None, "WeChat answered with unexpected JSON", endpoint=endpoint)
    errcode = int(data.get("errcode") or 0)
    count_call(endpoint, errcode)
    if errcode != 0:
        raise error_for(errcode, scrub(str(data.get("errmsg", ""))), endpoint=endpoint, account=account)
    return data


def request_json(session: requests.Session, method: str, url: str, *, endpoint: str, account: str = "",
                 params: dict[str, Any] | None = None, json_body: dict[str, Any] | None = None,
                 timeout: float = TIMEOUT_SECONDS) -> dict[str, Any]:
    """One HTTP call without an access token (stable_token, OAuth); raises WeChatError subclasses."""
    try:
        resp = session.request(method, url, params=params, json=json_body, timeout=timeout)
    except requests.RequestException as exc:
        raise transport_error(exc, endpoint, is_send=False) from None
    return decode(resp, endpoint, account)
