"""JSON posts to WeChat over a kept-alive urllib3 pool: the path every message send takes.

wechatpy goes through requests, which costs about 0.7 ms of CPU per call (session merging, cookie
jars, hooks, the environment); a send worker makes hundreds of calls a second, so the three send
calls post here instead (about 0.3 ms). Same request (the access token in the query, the body as
UTF-8 JSON without ASCII escapes, a 3 s timeout), same answers, same errors as the wechatpy path:
transport failures say whether the request may have reached WeChat (a send's outcome is then
unknown), HTTP errors and bodies that are not JSON are NetworkErrors, errcode != 0 raises the
matching WeChatError. A proxy in the environment for WeChat's host keeps the requests path.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NameResolutionError, NewConnectionError

from scrm.wechat.errors import NetworkError, error_for
from scrm.wechat.http import TIMEOUT_SECONDS, count_call, http_status_error, scrub

_pools: dict[tuple[int, str], urllib3.HTTPConnectionPool | None] = {}
_lock = threading.Lock()
POOL_SIZE = 32   # connections kept per process and host: more than any worker's send threads


def _ca_bundle() -> str | None:
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        return bundle
    try:
        import certifi  # requests' own CA bundle, so both paths trust the same roots
    except ImportError:  # pragma: no cover - requests depends on certifi
        return None
    return str(certifi.where())


def pool_for(base_url: str) -> urllib3.HTTPConnectionPool | None:
    """This process's pool for the host of `base_url`; None when a proxy applies (use requests then)."""
    key = (os.getpid(), base_url)
    if key in _pools:
        return _pools[key]
    with _lock:
        if key not in _pools:
            proxied = requests.utils.select_proxy(base_url, requests.utils.get_environ_proxies(base_url)) is not None
            kw: dict[str, Any] = {"maxsize": POOL_SIZE, "block": False, "retries": False,
                                  "timeout": urllib3.Timeout(total=TIMEOUT_SECONDS)}
            if urlsplit(base_url).scheme == "https":
                kw["ca_certs"] = _ca_bundle()
            _pools[key] = None if proxied else urllib3.connection_from_url(base_url, **kw)
        return _pools[key]


def _never_sent(exc: HTTPError) -> bool:
    """True when the request certainly did not reach the server."""
    if isinstance(exc, NewConnectionError | NameResolutionError | ConnectTimeoutError):
        return True
    reason = getattr(exc, "reason", None)
    return isinstance(reason, NewConnectionError | NameResolutionError | ConnectTimeoutError)


def post(pool: urllib3.HTTPConnectionPool, path: str, token: str, body: dict[str, Any], *, endpoint: str,
         account: str = "", is_send: bool = False) -> dict[str, Any]:
    """POST `body` to `path` (the full path, query excluded) with the access token; the decoded answer."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    try:
        resp = pool.urlopen("POST", f"{path}?access_token={token}", body=data,
                            headers={"Content-Type": "application/json"}, redirect=False,
                            assert_same_host=False)
    except HTTPError as exc:
        kind = "timeout" if isinstance(exc, urllib3.exceptions.TimeoutError) else "network"
        count_call(endpoint, kind)
        raise NetworkError(None, scrub(f"{type(exc).__name__}: {exc}")[:200], endpoint=endpoint,
                           unknown_outcome=is_send and not _never_sent(exc)) from None
    if resp.status >= 400:
        raise http_status_error(resp.status, endpoint, is_send=is_send)
    try:
        result = json.loads(resp.data.decode("utf-8", "ignore"), strict=False)
    except ValueError:
        result = None
    if not isinstance(result, dict):
        count_call(endpoint, "badjson")
        raise NetworkError(None, "WeChat answered with something that is not JSON", endpoint=endpoint)
    errcode = int(result.get("errcode") or 0)
    if errcode:   # a success is counted by the caller (WeChatAPI._attempts), as on wechatpy's path
        count_call(endpoint, errcode)
        raise error_for(errcode, scrub(str(result.get("errmsg", errcode))), endpoint=endpoint, account=account)
    return result
