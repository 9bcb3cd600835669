"""Errors of the WeChat API client, one class per outcome the callers treat differently."""

from __future__ import annotations


class WeChatError(Exception):
    """A WeChat API call failed; `errcode` is WeChat's code (None for transport failures)."""

    #: True when trying the same call again later may succeed (system busy, rate limit, 5xx).
    transient = False

    def __init__(self, errcode: int | None, errmsg: str, *, endpoint: str = "",
                 unknown_outcome: bool = False, http_status: int | None = None) -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        self.endpoint = endpoint
        self.unknown_outcome = unknown_outcome
        self.http_status = http_status
        super().__init__(self.describe())

    def describe(self) -> str:
        """A one-line description for logs and the `error` column."""
        where = f"{self.endpoint}: " if self.endpoint else ""
        code = f"[{self.errcode}] " if self.errcode is not None else ""
        return f"{where}{code}{self.errmsg}"


class InvalidCredential(WeChatError):
    """40001/40014/42001 even after one forced token refresh."""

    transient = True


class AccountMisconfigured(WeChatError):
    """The account cannot call the API at all (IP whitelist, frozen or wrong secret): fix the config."""


class QuotaExceeded(WeChatError):
    """45009 (45028 for mass sends): the quota of this API is used up; pause until it resets, do not loop."""


class AlreadySent(WeChatError):
    """45065: this mass send's clientmsgid was used in the last 24 hours, so WeChat already took it."""


class RateLimited(WeChatError):
    """45011: too many calls this minute; back off a few seconds."""

    transient = True


class WindowClosed(WeChatError):
    """45015/45047: outside the customer-service window or over its message count."""


class Unsubscribed(WeChatError):
    """43004: the user does not follow the account."""


class NoConsent(WeChatError):
    """43101: the user refused this message (subscription notices)."""


class InvalidOpenid(WeChatError):
    """40003: the openid does not belong to this account."""


class SystemBusy(WeChatError):
    """-1: WeChat's own 'system busy'; try again later."""

    transient = True


class NetworkError(WeChatError):
    """Timeouts, refused connections and HTTP errors.

    `unknown_outcome` is True when the request may have reached WeChat (a send that timed out while
    waiting for the answer): such a send must not be repeated blindly.
    """

    transient = True


CREDENTIAL_CODES = frozenset({40001, 40014, 42001})
_FATAL_CONFIG = {
    40164: "this server's IP address is not on the account's IP whitelist",
    61004: "this server's IP address is not on the account's IP whitelist",
    40243: "the AppSecret is frozen; unfreeze or reset it in the WeChat console",
    40013: "the AppID is not valid",
    40125: "the AppSecret is not valid",
    41004: "the AppSecret is missing",
}
_BY_CODE: dict[int, type[WeChatError]] = {
    45009: QuotaExceeded,
    45028: QuotaExceeded,
    45065: AlreadySent,
    45011: RateLimited,
    45015: WindowClosed,
    45047: WindowClosed,
    43004: Unsubscribed,
    43101: NoConsent,
    40003: InvalidOpenid,
    -1: SystemBusy,
    **{code: InvalidCredential for code in CREDENTIAL_CODES},
}


def error_for(errcode: int, errmsg: str, endpoint: str = "", account: str = "") -> WeChatError:
    """The exception class that matches WeChat's `errcode`."""
    if errcode in _FATAL_CONFIG:
        who = f"account {account}: " if account else ""
        return AccountMisconfigured(errcode, f"{who}{_FATAL_CONFIG[errcode]} ({errmsg})", endpoint=endpoint)
    return _BY_CODE.get(errcode, WeChatError)(errcode, errmsg, endpoint=endpoint)
