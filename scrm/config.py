"""Settings: a TOML file plus SCRM_* environment overrides, loaded into frozen dataclasses."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WECHAT_API_BASE = "https://api.weixin.qq.com"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_AES_KEY = re.compile(r"^[A-Za-z0-9]{43}$")
# Template messages an account may configure under [accounts.<slug>.templates] (WeChat template ids).
TEMPLATE_KEYS = ("booking_confirmed", "booking_reminder", "booking_rating")
_TEMPLATE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ConfigError(Exception):
    """A missing or invalid setting; the message names the key."""


@dataclass(frozen=True)
class MenuButton:
    """One menu button as configured (sub-buttons nested)."""

    name: str
    type: str = ""
    key: str = ""
    url: str = ""
    sub: tuple[MenuButton, ...] = ()

    def to_wechat(self) -> dict[str, Any]:
        """Render in the menu/create JSON shape."""
        if self.sub:
            return {"name": self.name, "sub_button": [b.to_wechat() for b in self.sub]}
        out: dict[str, Any] = {"type": self.type, "name": self.name}
        if self.key:
            out["key"] = self.key
        if self.url:
            out["url"] = self.url
        return out


@dataclass(frozen=True)
class AccountSettings:
    """One WeChat official account."""

    slug: str
    name: str
    app_id: str
    app_secret: str
    token: str
    encoding_aes_key: str = ""
    encoding_aes_key_previous: str = ""
    api_base_url: str = WECHAT_API_BASE
    language: str = "zh"
    menu: tuple[MenuButton, ...] = ()
    templates: tuple[tuple[str, str], ...] = ()   # (TEMPLATE_KEYS name, WeChat template id); hashable

    def template_id(self, name: str) -> str:
        """The WeChat template id configured for `name` (a TEMPLATE_KEYS entry), or "" when there is none."""
        return next((tid for key, tid in self.templates if key == name), "")

    @property
    def safe_mode(self) -> bool:
        """True when messages are encrypted (compatible or safe mode)."""
        return bool(self.encoding_aes_key)

    @property
    def is_sandbox(self) -> bool:
        """True when the API base points anywhere but WeChat itself."""
        return self.api_base_url.rstrip("/") != WECHAT_API_BASE


@dataclass(frozen=True)
class AppSettings:
    secret_key: str
    timezone: str = "Asia/Shanghai"
    default_language: str = "zh"
    public_url: str = "http://127.0.0.1:5000"
    secure_cookies: bool = False
    reply_budget_ms: int = 3500
    write_behind_ms: int = 200
    login_attempts_per_15min: int = 10
    proxy_hops: int = 0
    import_dir: str = ""  # uploaded import files and their reports; "" means <project>/instance/imports
    api_rate_per_second: float = 10.0  # dealer API requests per key (GCRA in Redis)
    api_burst: int = 20

    @property
    def tz(self) -> ZoneInfo:
        """The configured time zone."""
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///instance/scrm.db"
    echo: bool = False
    pool_size: int = 5


@dataclass(frozen=True)
class RedisSettings:
    url: str = "memory://"
    prefix: str = "scrm"


@dataclass(frozen=True)
class ConversationSettings:
    ttl_minutes: int = 30


@dataclass(frozen=True)
class OutboxSettings:
    rate_per_second: float = 50.0
    burst: int = 20
    batch_size: int = 50
    lease_seconds: int = 120
    max_attempts: int = 5
    poll_seconds: float = 1.0
    quiet_hours: str = ""
    cap_count: int = 4        # marketing messages one follower may get in `cap_days` (0: no cap)
    cap_days: int = 7
    send_threads: int = 1     # threads per worker making the WeChat calls (see scrm/outbox/batch.py)
    template_daily_quota: int = 100000   # WeChat's daily quotas, for the campaign dry run's budget
    custom_daily_quota: int = 500000


@dataclass(frozen=True)
class SchedulerSettings:
    enabled_jobs: tuple[str, ...] = ("*",)


@dataclass(frozen=True)
class BookingNoticeSettings:
    """Booking notices: when reminders and the satisfaction question go out."""

    reminder_day_before_at: str = "10:00"   # local time (dealer's zone) of the day-before reminder
    reminder_hours_before: int = 2           # the second reminder, this long before the start
    rating_delay_minutes: int = 120          # the satisfaction question, this long after completion


@dataclass(frozen=True)
class SandboxSettings:
    enabled: bool = False
    webhook_base_url: str = ""


@dataclass(frozen=True)
class Settings:
    """Everything the application reads from configuration."""

    app: AppSettings
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    conversation: ConversationSettings = field(default_factory=ConversationSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    booking: BookingNoticeSettings = field(default_factory=BookingNoticeSettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    accounts: dict[str, AccountSettings] = field(default_factory=dict)

    def account(self, slug: str) -> AccountSettings | None:
        """The account with this slug, if configured."""
        return self.accounts.get(slug)

    def account_by_app_id(self, app_id: str) -> AccountSettings | None:
        """The account with this app id, if configured."""
        return next((a for a in self.accounts.values() if a.app_id == app_id), None)


def load_settings(path: str | os.PathLike[str] | None = None,
                  environ: dict[str, str] | None = None) -> Settings:
    """Read the TOML file named by `path` or SCRM_CONFIG, apply SCRM_* overrides, validate."""
    env = dict(os.environ if environ is None else environ)
    raw: dict[str, Any] = {}
    cfg_path = Path(path or env.get("SCRM_CONFIG", "config.toml"))
    if cfg_path.exists():
        try:
            with cfg_path.open("rb") as fh:
                raw = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{cfg_path}: invalid TOML: {exc}") from exc
    elif path is not None:
        raise ConfigError(f"config file not found: {cfg_path}")
    apply_env_overrides(raw, env)
    return settings_from_dict(raw)


def apply_env_overrides(raw: dict[str, Any], env: dict[str, str]) -> None:
    """SCRM_<SECTION>_<KEY> overrides [section] key; SCRM_ACCOUNTS_<SLUG>_<KEY> an account key."""
    for name, value in env.items():
        if not name.startswith("SCRM_") or name == "SCRM_CONFIG":
            continue
        parts = name[5:].lower().split("_")
        if parts[0] == "accounts" and len(parts) >= 3:
            slug_key = "_".join(parts[1:])
            existing = raw.setdefault("accounts", {})
            slug = next((s for s in existing if slug_key.startswith(s.replace("-", "_") + "_")), parts[1])
            key = slug_key[len(slug) + 1:]
            existing.setdefault(slug, {})[key] = value
            continue
        for split in range(1, len(parts)):
            section, key = "_".join(parts[:split]), "_".join(parts[split:])
            if section in _SECTIONS and key in _SECTIONS[section].__dataclass_fields__:
                raw.setdefault(section, {})[key] = value
                break


def _coerce(section: str, key: str, value: Any, target: Any) -> Any:
    """Convert environment strings to the field's type; check types from TOML."""
    default_type = type(target)
    if isinstance(value, str) and default_type is not str:
        try:
            if default_type is bool:
                if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(value)
                return value.lower() in ("1", "true", "yes", "on")
            if default_type is tuple:
                return tuple(v.strip() for v in value.split(",") if v.strip())
            return default_type(value)
        except ValueError as exc:
            raise ConfigError(f"[{section}] {key}: expected {default_type.__name__}, got {value!r}") from exc
    if default_type is tuple and isinstance(value, list):
        return tuple(str(v) for v in value)
    if default_type is float and isinstance(value, int):
        return float(value)
    if not isinstance(value, default_type):
        raise ConfigError(f"[{section}] {key}: expected {default_type.__name__}, got {value!r}")
    return value


def _default(f: Any) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return ""


def _section(name: str, cls: Any, data: dict[str, Any], required: tuple[str, ...] = ()) -> Any:
    known = {f.name: f for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"[{name}] {key}: unknown setting")
    for key in required:
        if not data.get(key):
            raise ConfigError(f"[{name}] {key}: missing (set it in the config file or "
                              f"SCRM_{name.upper()}_{key.upper()})")
    kwargs = {key: _coerce(name, key, value, _default(known[key])) for key, value in data.items()}
    return cls(**kwargs)


_SECTIONS: dict[str, Any] = {
    "app": AppSettings, "database": DatabaseSettings, "redis": RedisSettings,
    "conversation": ConversationSettings, "outbox": OutboxSettings,
    "scheduler": SchedulerSettings, "booking": BookingNoticeSettings, "sandbox": SandboxSettings,
}


def _menu(slug: str, items: Any) -> tuple[MenuButton, ...]:
    if not isinstance(items, list):
        raise ConfigError(f"[accounts.{slug}] menu: expected a list of buttons")
    out = []
    for item in items:
        if not isinstance(item, dict) or not item.get("name"):
            raise ConfigError(f"[accounts.{slug}] menu: every button needs a name")
        sub = _menu(slug, item.get("sub", [])) if item.get("sub") else ()
        out.append(MenuButton(name=str(item["name"]), type=str(item.get("type", "")),
                              key=str(item.get("key", "")), url=str(item.get("url", "")), sub=sub))
    return tuple(out)


def _account(slug: str, data: dict[str, Any]) -> AccountSettings:
    if not _SLUG.match(slug):
        raise ConfigError(f"[accounts.{slug}]: the slug must be lowercase letters, digits, - or _")
    where = f"accounts.{slug}"
    for key in ("app_id", "app_secret", "token"):
        if not data.get(key):
            raise ConfigError(f"[{where}] {key}: missing (or set SCRM_ACCOUNTS_{slug.upper()}_{key.upper()})")
    aes = str(data.get("encoding_aes_key", ""))
    if aes and not _AES_KEY.match(aes):
        raise ConfigError(f"[{where}] encoding_aes_key: must be 43 letters and digits (or empty for plaintext)")
    previous = str(data.get("encoding_aes_key_previous", ""))
    if previous and (not aes or not _AES_KEY.match(previous)):
        raise ConfigError(f"[{where}] encoding_aes_key_previous: must be 43 letters and digits, beside a current key")
    token = str(data["token"])
    if not re.match(r"^[A-Za-z0-9]{3,32}$", token):
        raise ConfigError(f"[{where}] token: must be 3-32 letters and digits")
    lang = str(data.get("language", "zh"))
    if lang not in ("zh", "en"):
        raise ConfigError(f"[{where}] language: must be zh or en")
    extra = {k for k in data if not k.startswith("templates_")} - {
        "name", "app_id", "app_secret", "token", "encoding_aes_key", "encoding_aes_key_previous", "api_base_url",
        "language", "menu", "templates"}
    if extra:
        raise ConfigError(f"[{where}] {sorted(extra)[0]}: unknown setting")
    base = str(data.get("api_base_url") or WECHAT_API_BASE).rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ConfigError(f"[{where}] api_base_url: must start with http:// or https://")
    return AccountSettings(slug=slug, name=str(data.get("name", slug)), app_id=str(data["app_id"]),
                           app_secret=str(data["app_secret"]), token=token, encoding_aes_key=aes,
                           encoding_aes_key_previous=previous,
                           api_base_url=base, language=lang, menu=_menu(slug, data.get("menu", [])),
                           templates=_templates(slug, data))


def _templates(slug: str, data: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """[accounts.<slug>.templates] (or SCRM_ACCOUNTS_<SLUG>_TEMPLATES_<NAME>): known names, template ids."""
    where = f"accounts.{slug}.templates"
    table = data.get("templates", {})
    if not isinstance(table, dict):
        raise ConfigError(f"[{where}]: expected a table of name = template id")
    merged = {**table, **{k.removeprefix("templates_"): v for k, v in data.items() if k.startswith("templates_")}}
    out = []
    for name, value in sorted(merged.items()):
        if name not in TEMPLATE_KEYS:
            raise ConfigError(f"[{where}] {name}: unknown template (known: {', '.join(TEMPLATE_KEYS)})")
        if not isinstance(value, str) or not _TEMPLATE_ID.match(value):
            raise ConfigError(f"[{where}] {name}: expected a WeChat template id (letters, digits, - and _)")
        out.append((name, value))
    return tuple(out)


def _check_booking(b: BookingNoticeSettings) -> None:
    if not re.match(r"^([01]\d|2[0-3]):[0-5]\d$", b.reminder_day_before_at):
        raise ConfigError('[booking] reminder_day_before_at: expected "HH:MM" (e.g. "10:00")')
    if not 1 <= b.reminder_hours_before <= 12:
        raise ConfigError("[booking] reminder_hours_before: expected 1 to 12")
    if not 0 <= b.rating_delay_minutes <= 7 * 24 * 60:
        raise ConfigError("[booking] rating_delay_minutes: expected 0 to 10080 (a week)")


def settings_from_dict(raw: dict[str, Any]) -> Settings:
    """Build validated Settings from a parsed TOML-shaped dict."""
    unknown = set(raw) - set(_SECTIONS) - {"accounts"}
    if unknown:
        raise ConfigError(f"[{sorted(unknown)[0]}]: unknown section")
    app = _section("app", AppSettings, dict(raw.get("app", {})), required=("secret_key",))
    if len(app.secret_key) < 16:
        raise ConfigError("[app] secret_key: must be at least 16 characters")
    try:
        ZoneInfo(app.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"[app] timezone: unknown time zone {app.timezone!r}") from exc
    kwargs: dict[str, Any] = {"app": app}
    for name, cls in _SECTIONS.items():
        if name != "app":
            kwargs[name] = _section(name, cls, dict(raw.get(name, {})))
    redis_url = kwargs["redis"].url
    if not redis_url.startswith(("memory://", "redis://", "rediss://", "unix://")):
        raise ConfigError("[redis] url: must be memory:// or a redis:// URL")
    quiet = kwargs["outbox"].quiet_hours
    if quiet and not re.match(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$", quiet):
        raise ConfigError('[outbox] quiet_hours: expected "HH:MM-HH:MM" (e.g. "22:00-08:00") or empty')
    _check_booking(kwargs["booking"])
    if kwargs["outbox"].cap_count < 0 or not 1 <= kwargs["outbox"].cap_days <= 365:
        raise ConfigError("[outbox] cap_count must be 0 or more and cap_days 1 to 365")
    accounts = raw.get("accounts", {})
    if not isinstance(accounts, dict):
        raise ConfigError("[accounts]: expected [accounts.<slug>] tables")
    kwargs["accounts"] = {slug: _account(slug, dict(data)) for slug, data in accounts.items()}
    app_ids = [a.app_id for a in kwargs["accounts"].values()]
    if len(set(app_ids)) != len(app_ids):
        raise ConfigError("[accounts]: two accounts share one app_id")
    return Settings(**kwargs)
