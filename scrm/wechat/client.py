"""The WeChat API client: a thin layer over wechatpy's WeChatClient.

What we add (WECHAT.md 5.3, 5.4): a configurable base URL (the sandbox), a 3 s timeout, wechatpy's
`auto_retry` off (it retries 40001 without limit) and our own bounded retry, the shared stable token
from `token.py`, raw posts where wechatpy is wrong (mass send by tag, template `client_msg_id`), and
WeChat's error codes mapped to the exceptions in `errors.py`.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from scrm.config import AccountSettings
from scrm.wechat import jsonpost
from scrm.wechat.errors import InvalidCredential, NetworkError, WeChatError, error_for
from scrm.wechat.http import (
    TIMEOUT_SECONDS,
    count_call,
    http_status_error,
    request_json,
    scrub,
    transport_error,
)
from scrm.wechat.token import TokenStore, store_for

T = TypeVar("T")
READ_ATTEMPTS = 3                 # an idempotent call is tried at most 3 times (2 retries)
READ_BACKOFF_SECONDS = 0.2
OAUTH_SCOPES = ("snsapi_base", "snsapi_userinfo")
_STATE = re.compile(r"^[A-Za-z0-9]{0,128}$")
_REAL_OAUTH = "https://open.weixin.qq.com/connect/oauth2/authorize"
_REAL_QR_IMAGE = "https://mp.weixin.qq.com/cgi-bin/showqrcode"


class _Client(WeChatClient):  # type: ignore[misc]
    """wechatpy's client pointed at the account's base URL, with the token supplied by us."""

    _tokens: TokenStore | None = None

    def __init__(self, account: AccountSettings, tokens: TokenStore) -> None:
        super().__init__(account.app_id, account.app_secret, timeout=TIMEOUT_SECONDS, auto_retry=False)
        self.API_BASE_URL = account.api_base_url + "/cgi-bin/"
        self._local = threading.local()
        self._tokens = tokens

    @property
    def access_token(self) -> str:
        """The token of the call in progress on this thread (wechatpy reads it for every request)."""
        if self._tokens is None:  # wechatpy's __new__ inspects attributes before __init__ runs
            raise AttributeError("access_token")
        return getattr(self._local, "token", None) or self._tokens.get()

    def fetch_access_token(self) -> dict[str, Any]:
        """Never wechatpy's own fetch (it hard-codes api.weixin.qq.com): ask the shared store."""
        assert self._tokens is not None
        return {"access_token": self._tokens.get()}


class WeChatAPI:
    """The calls the product makes, each raising a `WeChatError` subclass on failure."""

    def __init__(self, account: AccountSettings, tokens: TokenStore | None = None) -> None:
        self.account = account
        self.tokens = tokens or store_for(account)
        self.client = _Client(account, self.tokens)
        self._api_path = urlsplit(account.api_base_url).path.rstrip("/") + "/cgi-bin/"

    # -- plumbing -------------------------------------------------------------------------------
    def _call(self, endpoint: str, fn: Callable[[], T], *, is_send: bool = False, idempotent: bool = False,
              cached_token: bool = False) -> T:
        """Run `fn` with the shared token; one forced refresh on 40001/40014/42001, then give up."""
        for credential_try in range(2):
            token = self.tokens.get_cached() if cached_token and not credential_try else self.tokens.get()
            self.client._local.token = token
            try:
                return self._attempts(endpoint, fn, is_send=is_send, idempotent=idempotent)
            except InvalidCredential:
                if credential_try:
                    raise
                self.tokens.force_refresh(token)
            finally:
                self.client._local.token = None
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempts(self, endpoint: str, fn: Callable[[], T], *, is_send: bool, idempotent: bool) -> T:
        attempts = READ_ATTEMPTS if idempotent else 1
        error: WeChatError | None = None
        for attempt in range(attempts):
            try:
                result = fn()
            except requests.RequestException as exc:
                error = transport_error(exc, endpoint, is_send=is_send)
            except WeChatClientException as exc:
                if exc.errcode is None:
                    status = exc.response.status_code if exc.response is not None else 0
                    error = http_status_error(status, endpoint, is_send=is_send)
                else:
                    count_call(endpoint, exc.errcode)
                    raise error_for(int(exc.errcode), scrub(str(exc.errmsg)), endpoint=endpoint,
                                    account=self.account.slug) from None
            else:
                if isinstance(result, requests.Response):  # wechatpy hands back bodies it cannot decode
                    count_call(endpoint, "badjson")
                    raise NetworkError(None, "WeChat answered with something that is not JSON", endpoint=endpoint)
                count_call(endpoint, 0)
                return result
            if attempt + 1 < attempts:
                time.sleep(READ_BACKOFF_SECONDS * 3 ** attempt)
        assert error is not None
        raise error

    def _post(self, path: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
        return self._call(path, lambda: self.client.post(path, data=body), **kw)

    def _send(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A message send: posted through the lean pool (jsonpost), or wechatpy's path behind a proxy."""
        pool = jsonpost.pool_for(self.account.api_base_url)
        if pool is None:
            return self._post(path, body, is_send=True)
        full = self._api_path + path
        return self._call(path, lambda: jsonpost.post(pool, full, self.client._local.token, body, endpoint=path,
                                                      account=self.account.slug, is_send=True),
                          is_send=True, cached_token=True)

    # -- token ----------------------------------------------------------------------------------
    def access_token(self) -> str:
        """The account's current access token (shared through Redis)."""
        return self.tokens.get()

    # -- messages -------------------------------------------------------------------------------
    def send_custom(self, openid: str, body: dict[str, Any]) -> dict[str, Any]:
        """A customer-service message; `body` is `{"msgtype": ..., <msgtype>: {...}}`."""
        return self._send("message/custom/send", {"touser": openid, **body})

    def send_template(self, openid: str, body: dict[str, Any], client_msg_id: str | None = None) -> dict[str, Any]:
        """A template message; `body` is `{"template_id", "url"?, "miniprogram"?, "data"}`."""
        data: dict[str, Any] = {"touser": openid, **body}
        if client_msg_id:
            data["client_msg_id"] = client_msg_id[:64]
        result = self._send("message/template/send", data)
        return {"msgid": str(result.get("msgid", ""))}

    def mass_send_tag(self, tag_id: int, body: dict[str, Any], clientmsgid: str) -> dict[str, Any]:
        """A mass send to everyone with a tag (posted raw: wechatpy 1.8.18 sends the old group filter)."""
        data = {k: v for k, v in body.items() if k not in ("tag_id", "filter", "touser")}
        data["filter"] = {"is_to_all": False, "tag_id": int(tag_id)}
        data.setdefault("send_ignore_reprint", 0)
        data["clientmsgid"] = clientmsgid[:64]
        result = self._send("message/mass/sendall", data)
        return {"msg_id": str(result.get("msg_id", "")), "msg_data_id": str(result.get("msg_data_id", ""))}

    def private_templates(self) -> list[dict[str, Any]]:
        """The account's template messages (template/get_all_private_template): template_id, title, content..."""
        result = self._call("template/get_all_private_template",
                            lambda: self.client.template.get_all_private_template(), idempotent=True)
        items = result.get("template_list") if isinstance(result, dict) else None
        return [i for i in items or [] if isinstance(i, dict)]

    # -- menu -----------------------------------------------------------------------------------
    def create_menu(self, buttons: list[dict[str, Any]]) -> None:
        """Replace the account's menu (the same menu twice is harmless, so network errors retry)."""
        self._call("menu/create", lambda: self.client.menu.create({"button": buttons}), idempotent=True)

    def get_menu(self) -> dict[str, Any]:
        """The menu in force, in menu/get's shape; {} when the account has none."""
        result = self._call("menu/get", lambda: self.client.menu.get(), idempotent=True)
        return dict(result or {})

    def delete_menu(self) -> None:
        """Remove the menu (and every conditional menu)."""
        self._call("menu/delete", lambda: self.client.menu.delete(), idempotent=True)

    # -- users and tags -------------------------------------------------------------------------
    def user_info(self, openid: str) -> dict[str, Any]:
        """One user's profile (`subscribe` 0 means not following, and nothing else is returned)."""
        return dict(self._call("user/info", lambda: self.client.user.get(openid, lang="zh_CN"), idempotent=True))

    def user_info_batch(self, openids: list[str]) -> list[dict[str, Any]]:
        """Profiles of many users, 100 per call."""
        out: list[dict[str, Any]] = []
        for i in range(0, len(openids), 100):
            chunk = openids[i:i + 100]
            out.extend(self._call("user/info/batchget", partial(self.client.user.get_batch, chunk),
                                  idempotent=True))
        return out

    def create_tag(self, name: str) -> int:
        """Create a tag (name up to 30 characters) and return its id."""
        if not 1 <= len(name) <= 30:
            raise ValueError("a tag name has 1 to 30 characters")
        tag = self._call("tags/create", lambda: self.client.tag.create(name))
        return int(tag["id"])

    def tag_users(self, tag_id: int, openids: list[str]) -> None:
        """Put a tag on users, 50 per call (tagging twice is harmless, so network errors retry)."""
        for i in range(0, len(openids), 50):
            chunk = openids[i:i + 50]
            self._call("tags/members/batchtagging", partial(self.client.tag.tag_user, tag_id, chunk),
                       idempotent=True)

    # -- QR codes -------------------------------------------------------------------------------
    def create_qrcode(self, scene: str, *, permanent: bool, expire_seconds: int = 2592000) -> dict[str, Any]:
        """A parametric QR code for `scene` (1-64 characters); temporary ones live up to 30 days."""
        if not 1 <= len(scene) <= 64:
            raise ValueError("a QR scene has 1 to 64 characters")
        body: dict[str, Any] = {"action_info": {"scene": {"scene_str": scene}}}
        if permanent:
            body["action_name"] = "QR_LIMIT_STR_SCENE"
        else:
            body["action_name"] = "QR_STR_SCENE"
            body["expire_seconds"] = max(60, min(int(expire_seconds), 2592000))
        result = self._call("qrcode/create", lambda: self.client.qrcode.create(body))
        return {"ticket": str(result["ticket"]), "url": str(result.get("url", "")),
                "expire_seconds": None if permanent else int(result.get("expire_seconds") or 0)}

    def qrcode_image_url(self, ticket: str) -> str:
        """Where the QR image for `ticket` can be fetched (WeChat's image host, or the sandbox)."""
        base = self.account.api_base_url + "/cgi-bin/showqrcode" if self.account.is_sandbox else _REAL_QR_IMAGE
        return f"{base}?ticket={quote(ticket, safe='')}"

    # -- OAuth ----------------------------------------------------------------------------------
    def oauth_authorize_url(self, redirect_uri: str, state: str, scope: str = "snsapi_base") -> str:
        """The authorize page that sends the user back to `redirect_uri` with `code` and `state`."""
        if scope not in OAUTH_SCOPES:
            raise ValueError(f"unknown OAuth scope {scope!r}")
        if not _STATE.match(state):
            raise ValueError("the OAuth state is up to 128 letters and digits")
        if not redirect_uri.startswith(("http://", "https://")):
            raise ValueError("the OAuth redirect_uri must be an absolute http(s) URL")
        base = self.account.api_base_url + "/connect/oauth2/authorize" if self.account.is_sandbox else _REAL_OAUTH
        query = urlencode({"appid": self.account.app_id, "redirect_uri": redirect_uri, "response_type": "code",
                           "scope": scope, "state": state})
        return f"{base}?{query}#wechat_redirect"

    def oauth_exchange(self, code: str) -> dict[str, Any]:
        """Trade an OAuth code (single use, 5 minutes) for `{openid, access_token, scope, ...}`."""
        if not code or len(code) > 512:
            raise WeChatError(40029, "invalid code", endpoint="sns/oauth2/access_token")
        params = {"appid": self.account.app_id, "secret": self.account.app_secret, "code": code,
                  "grant_type": "authorization_code"}
        data = request_json(self.client._http, "GET", self.account.api_base_url + "/sns/oauth2/access_token",
                            endpoint="sns/oauth2/access_token", account=self.account.slug, params=params)
        if not data.get("openid"):
            raise WeChatError(None, "OAuth answer without an openid", endpoint="sns/oauth2/access_token")
        return data


_apis: dict[tuple[int, AccountSettings], WeChatAPI] = {}
_apis_lock = threading.Lock()


def api_for(account: AccountSettings) -> WeChatAPI:
    """The client of an account, cached per account per process (a forked child builds its own)."""
    key = (os.getpid(), account)
    api = _apis.get(key)
    if api is None:
        with _apis_lock:
            api = _apis.get(key)
            if api is None:
                api = _apis[key] = WeChatAPI(account)
    return api
