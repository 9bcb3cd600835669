"""WeChat's limits and error codes as the fake API enforces them (WECHAT.md section 4)."""

from __future__ import annotations

import hashlib
import secrets

# errcode -> errmsg, worded as WeChat words them (a " rid: ..." suffix is added per answer).
ERRORS: dict[int, str] = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40007: "invalid media_id",
    40008: "invalid message type",
    40013: "invalid appid",
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40020: "invalid button url size",
    40022: "invalid sub_menu level",
    40023: "invalid sub button size",
    40024: "invalid sub button type",
    40025: "invalid sub button name size",
    40026: "invalid sub button key size",
    40027: "invalid sub button url size",
    40029: "invalid code",
    40032: "invalid openid list size",
    40033: "invalid charset. please check your request, if include \\uxxxx will create fail!",
    40037: "invalid template_id",
    40052: "invalid action name",
    40053: "invalid action info, please check document",
    40054: "invalid sub button url domain",
    40055: "invalid button url domain",
    40125: "invalid appsecret",
    40130: "invalid openid list size, at least two openid",
    40163: "code been used",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing code",
    41009: "missing openid",
    42001: "access_token expired",
    43001: "require GET method",
    43002: "require POST method",
    43004: "require subscribe",
    44002: "empty post data",
    44004: "empty content",
    45002: "content size out of limit",
    45008: "article size out of limit",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45028: "has no masssend quota",
    45047: "out of response count limit",
    45056: "too many tags",
    45057: "can't delete the tag that has too many fans",
    45058: "can't modify sys tag",
    45059: "tag of the user exceeds the limit",
    45065: "clientmsgid exist",
    45067: "clientmsgid size out of limit",
    45157: "invalid tag name",
    45158: "tag name too long",
    45159: "invalid tag id",
    46003: "menu no exist",
    47001: "data format error",
    47003: "argument invalid!",
    48001: "api unauthorized",
}


class ApiError(Exception):
    """An answer of the form {"errcode": ..., "errmsg": ...} (HTTP 200, as WeChat does)."""

    def __init__(self, errcode: int, hint: str = "") -> None:
        super().__init__(errcode)
        self.errcode = errcode
        self.hint = hint

    def body(self) -> dict[str, object]:
        """The JSON body WeChat would answer."""
        msg = ERRORS.get(self.errcode, "unknown error")
        if self.hint:
            msg = f"{msg} {self.hint}"
        return {"errcode": self.errcode, "errmsg": f"{msg} rid: {rid()}"}


def rid() -> str:
    """A request id like the ones WeChat appends to every error message."""
    return "-".join(secrets.token_hex(4) for _ in range(3))


def gh_id(app_id: str) -> str:
    """The account's original id (gh_...), stable per app id; inbound XML carries it as ToUserName."""
    return "gh_" + hashlib.sha1(app_id.encode()).hexdigest()[:12]  # noqa: S324 (an id, not security)


# Daily quotas per API (WECHAT.md 4.11, "new account" column); tests lower them with set_quota.
DAILY_QUOTAS: dict[str, int] = {
    "token": 2000,
    "stable_token": 500_000,
    "menu_create": 1000,
    "menu_get": 10_000,
    "menu_delete": 1000,
    "custom_send": 500_000,
    "template_send": 100_000,
    "template_list": 10_000,
    "mass": 100,
    "qrcode_create": 100_000,
    "user_get": 500,
    "user_info": 5_000_000,
    "tags": 1_000_000,
}

# Which errcode a used-up quota answers: mass sends say "no masssend quota", the rest 45009.
QUOTA_ERRCODE: dict[str, int] = {"mass": 45028}

TOKEN_TTL = 7200                  # seconds an access token lives
TOKEN_OVERLAP = 300               # the previous token stays valid this long after a new fetch
STABLE_FORCE_PER_DAY = 20
STABLE_FORCE_MIN_GAP = 30         # seconds; a forced refresh sooner returns the same token
STABLE_RENEW_BEFORE = 300         # normal mode renews this long before expiry

# Customer-service allowance (WECHAT.md 4.3): per interaction kind, (window seconds, message count).
CS_GRANTS: dict[str, tuple[int, int]] = {
    "message": (48 * 3600, 5),
    "click": (60, 3),
    "follow": (60, 3),
    "scan": (60, 3),
}
CS_TEXT_MAX_BYTES = 2048
CS_MSGTYPES = ("text", "image", "voice", "video", "music", "news", "mpnews", "mpnewsarticle", "msgmenu",
               "wxcard", "miniprogrampage")

TEMPLATE_DEDUPE_SECONDS = 600     # client_msg_id: once per openid + id within 10 minutes
TEMPLATE_FINISH_DELAY = 0.2       # seconds before TEMPLATESENDJOBFINISH is pushed
# New-style template keyword types and their value limits in characters (47003 beyond).
TEMPLATE_VALUE_LIMITS: dict[str, int] = {
    "thing": 20, "number": 32, "letter": 32, "symbol": 5, "character_string": 32, "time": 32, "date": 32,
    "amount": 32, "phone_number": 17, "car_number": 8, "name": 10, "phrase": 5, "const": 20,
}

MASS_PER_USER_PER_MONTH = 4
MASS_OPENID_MIN, MASS_OPENID_MAX = 2, 10_000
MASS_CLIENTMSGID_MAX = 64
MASS_CLIENTMSGID_SECONDS = 24 * 3600
MASS_MSGTYPES = ("text", "mpnews", "image", "voice", "mpvideo", "wxcard")

MENU_TYPES = ("click", "view", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album",
              "pic_weixin", "location_select", "media_id", "article_id", "article_view_limited",
              "view_limited", "miniprogram")
MENU_KEY_TYPES = ("click", "scancode_push", "scancode_waitmsg", "pic_sysphoto", "pic_photo_or_album",
                  "pic_weixin", "location_select")
MENU_TOP_MAX, MENU_SUB_MAX = 3, 5
MENU_TOP_NAME_BYTES, MENU_SUB_NAME_BYTES = 16, 60
MENU_KEY_BYTES, MENU_URL_BYTES = 128, 1024

QR_TEMP_MAX_SECONDS = 2_592_000
QR_TEMP_DEFAULT_SECONDS = 60
QR_PERMANENT_MAX_ID = 100_000
QR_SCENE_STR_MAX = 64
QR_ACTIONS = ("QR_SCENE", "QR_STR_SCENE", "QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE")

USER_BATCH_MAX = 100
USER_PAGE_MAX = 10_000
TAGS_MAX = 100
TAG_NAME_MAX = 30
TAG_BATCH_MAX = 50
TAGS_PER_USER_MAX = 20
TAG_RESERVED = {0: "未分组", 1: "黑名单", 2: "星标组"}
TAG_FIRST_ID = 100

OAUTH_CODE_TTL = 300
OAUTH_TOKEN_TTL = 7200
OAUTH_REFRESH_TTL = 30 * 86400
OAUTH_SCOPES = ("snsapi_base", "snsapi_userinfo")

OPENID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
# The simulator remembers "who is holding the phone" per account in this cookie; the OAuth page reads it.
PHONE_COOKIE = "sbx_wx_"


def new_openid() -> str:
    """A random openid in WeChat's shape: 28 characters starting with "o"."""
    return "o" + "".join(secrets.choice(OPENID_ALPHABET) for _ in range(27))
