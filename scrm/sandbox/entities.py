"""What the fake WeChat remembers per official account (plain dataclasses; state.py guards them)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Token:
    """An access token (from `token` or `stable_token`)."""

    value: str
    app_id: str
    expires_at: float
    stable: bool = False
    revoked_at: float | None = None   # invalid from this moment on (a newer token replaced it)


@dataclass
class Grant:
    """A customer-service allowance opened by one user action (WECHAT.md 4.3)."""

    kind: str
    at: float
    window: int
    limit: int
    used: int = 0


@dataclass
class Follower:
    """A WeChat user as the platform knows them for one account."""

    openid: str
    subscribed: bool = False
    subscribe_time: int = 0
    subscribe_scene: str = "ADD_SCENE_OTHERS"
    qr_scene: int = 0
    qr_scene_str: str = ""
    tags: list[int] = field(default_factory=list)
    remark: str = ""
    blocks_templates: bool = False
    last_interaction_at: float | None = None
    last_interaction_kind: str = ""
    grants: dict[str, Grant] = field(default_factory=dict)   # "message" and "event" slots
    mass_received: dict[str, int] = field(default_factory=dict)  # "YYYYMM" -> count
    label: str = ""                                          # the simulator's display name
    last_create_time: int = 0                                # CreateTime of the last push (kept increasing)

    @property
    def cs_sent_since_interaction(self) -> int:
        """Customer-service messages sent since the last interaction."""
        grant = self.grants.get("message" if self.last_interaction_kind == "message" else "event")
        return grant.used if grant else 0


@dataclass
class Template:
    """A template in the account's "my templates" list."""

    template_id: str
    title: str
    content: str
    example: str = ""
    primary_industry: str = "交通工具"
    deputy_industry: str = "汽车相关"

    def keywords(self) -> list[str]:
        """The keyword names used in the content ({{thing1.DATA}} -> thing1)."""
        out = []
        for part in self.content.split("{{")[1:]:
            name = part.split(".DATA}}", 1)[0]
            if name:
                out.append(name)
        return out


@dataclass
class QrTicket:
    """A parametric QR code."""

    ticket: str
    url: str
    permanent: bool
    scene_id: int = 0
    scene_str: str = ""
    expires_at: float | None = None

    @property
    def scene(self) -> str:
        """The scene as it appears in EventKey (string or number)."""
        return self.scene_str or str(self.scene_id)


@dataclass
class OAuthCode:
    """A web-authorization code (single use, 5 minutes)."""

    code: str
    openid: str
    scope: str
    expires_at: float
    used: bool = False


@dataclass
class OAuthToken:
    """A web-authorization access token (not the API token)."""

    value: str
    openid: str
    scope: str
    expires_at: float


@dataclass
class MassJob:
    """A mass-send job and its outcome counts."""

    msg_id: int
    total: int = 0
    filtered: int = 0
    sent: int = 0
    errors: int = 0
    recipients: list[str] = field(default_factory=list)


@dataclass
class AppState:
    """Everything the fake platform holds for one app id."""

    app_id: str
    tokens: dict[str, Token] = field(default_factory=dict)
    current_token: str | None = None
    stable_token: str | None = None
    stable_forces: list[float] = field(default_factory=list)
    followers: dict[str, Follower] = field(default_factory=dict)
    chat: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    menu: list[dict[str, Any]] | None = None
    menu_id: int = 0
    tags: dict[int, str] = field(default_factory=dict)
    next_tag_id: int = 100
    tickets: dict[str, QrTicket] = field(default_factory=dict)
    templates: dict[str, Template] = field(default_factory=dict)
    oauth_codes: dict[str, OAuthCode] = field(default_factory=dict)
    oauth_tokens: dict[str, OAuthToken] = field(default_factory=dict)
    counters: dict[tuple[str, str], int] = field(default_factory=dict)
    quotas: dict[str, int] = field(default_factory=dict)
    template_dedupe: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)
    mass_clientmsgids: dict[str, float] = field(default_factory=dict)
    mass_jobs: dict[int, MassJob] = field(default_factory=dict)
    webhook_url: str | None = None


def template_id_for(app_id: str, name: str) -> str:
    """A stable 43-character template id (WeChat's shape) for a preloaded template."""
    digest = hashlib.sha256(f"{app_id}:{name}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:43]


# The preloaded "my templates" of a car dealer account (new-style keywords, 2023 rules).
DEALER_TEMPLATES: tuple[tuple[str, str, str, str], ...] = (
    ("booking_confirmed", "预约成功通知",
     "预约项目:{{thing1.DATA}}\n预约时间:{{time2.DATA}}\n门店名称:{{thing3.DATA}}\n"
     "门店地址:{{thing4.DATA}}\n联系电话:{{phone_number5.DATA}}",
     "预约项目:常规保养\n预约时间:2024年5月18日 10:00\n门店名称:上海浦东4S店\n门店地址:浦东新区锦绣路100号\n"
     "联系电话:021-55550000"),
    ("booking_reminder", "预约到店提醒",
     "预约项目:{{thing1.DATA}}\n预约时间:{{time2.DATA}}\n门店名称:{{thing3.DATA}}\n"
     "门店地址:{{thing4.DATA}}\n联系电话:{{phone_number5.DATA}}",
     "预约项目:常规保养\n预约时间:2024年5月18日 10:00\n门店名称:上海浦东4S店\n门店地址:浦东新区锦绣路100号\n"
     "联系电话:021-55550000"),
    ("booking_rating", "服务评价邀请",
     "服务项目:{{thing1.DATA}}\n服务门店:{{thing2.DATA}}\n完成时间:{{time3.DATA}}\n评价方式:{{thing4.DATA}}",
     "服务项目:常规保养\n服务门店:上海浦东4S店\n完成时间:2024年5月18日 11:30\n评价方式:回复1-5为本次服务打分"),
    ("service_reminder", "保养到期提醒",
     "车牌号:{{car_number1.DATA}}\n车型:{{thing2.DATA}}\n上次保养:{{time3.DATA}}\n建议项目:{{thing4.DATA}}",
     "车牌号:沪A12345\n车型:轩逸 2022款\n上次保养:2023年11月2日\n建议项目:更换机油机滤"),
    ("points_changed", "积分变动提醒",
     "变动原因:{{thing1.DATA}}\n变动积分:{{character_string2.DATA}}\n当前积分:{{number3.DATA}}\n"
     "变动时间:{{time4.DATA}}",
     "变动原因:每日签到\n变动积分:+10\n当前积分:1280\n变动时间:2024年5月18日 09:12"),
    ("event_reminder", "活动开始提醒",
     "活动名称:{{thing1.DATA}}\n活动时间:{{time2.DATA}}\n活动地点:{{thing3.DATA}}",
     "活动名称:车主自驾游\n活动时间:2024年6月1日 08:30\n活动地点:门店停车场集合"),
)
