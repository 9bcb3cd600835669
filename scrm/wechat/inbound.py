"""The parsed inbound push: one frozen dataclass for every message and event type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from types import MappingProxyType
from typing import Any

# MsgType values of ordinary messages (everything else arrives as MsgType=event).
MESSAGE_TYPES = frozenset({"text", "image", "voice", "video", "shortvideo", "location", "link"})

# Which user action opens which customer-service allowance (WECHAT.md §4.3); other events open none.
_CLICK_EVENTS = frozenset({"click", "scancode_push", "scancode_waitmsg"})
# Job reports WeChat itself pushes about a send: not something the follower did.
SYSTEM_EVENTS = ("templatesendjobfinish", "masssendjobfinish")


@dataclass(frozen=True)
class Inbound:
    """One push from WeChat, decrypted and parsed; `event` is lower-case, strings default to ""."""

    account_slug: str
    openid: str
    to_user: str
    create_time: int
    msg_type: str
    event: str = ""
    key: str = ""
    scene: str = ""
    ticket: str = ""
    content: str = ""
    msg_id: str = ""
    media_id: str = ""
    pic_url: str = ""
    format: str = ""
    recognition: str = ""
    thumb_media_id: str = ""
    location_x: float | None = None
    location_y: float | None = None
    scale: int | None = None
    label: str = ""
    title: str = ""
    description: str = ""
    url: str = ""
    latitude: float | None = None
    longitude: float | None = None
    precision: float | None = None
    scan_type: str = ""
    scan_result: str = ""
    pics: tuple[str, ...] = ()
    send_location: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    status: str = ""
    counts: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    subscribe_msgs: tuple[Mapping[str, str], ...] = ()
    menu_id: str = ""
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False)

    @classmethod
    def build(cls, **values: Any) -> Inbound:
        """The same Inbound as `Inbound(**values)`, made without the 35 checked assignments of a frozen
        dataclass's __init__ (a sixth of parsing a push); an unknown name is still a TypeError."""
        unknown = values.keys() - _FIELDS
        if unknown:
            raise TypeError(f"Inbound has no field {sorted(unknown)[0]!r}")
        missing = _REQUIRED - values.keys()
        if missing:
            raise TypeError(f"Inbound needs {sorted(missing)[0]!r}")
        obj = object.__new__(cls)
        state = obj.__dict__
        state.update(_DEFAULTS)
        state.update(values)
        return obj

    @property
    def is_message(self) -> bool:
        """True for ordinary messages (text, image, ...), False for events."""
        return self.msg_type in MESSAGE_TYPES

    @property
    def is_event(self) -> bool:
        """True for MsgType=event."""
        return self.msg_type == "event"

    @property
    def dedupe_id(self) -> str:
        """What identifies a retry: MsgId for messages; FromUserName:CreateTime:event for events.

        Events also append their EventKey and, for job reports, the job's MsgID: two clicks on
        different buttons, or two jobs finishing for one follower in the same second, are not
        one retried push (a retry repeats every field).
        """
        if self.is_message and self.msg_id:
            return self.msg_id
        parts = [self.openid, str(self.create_time), self.event or self.msg_type]
        if self.key:
            parts.append(self.key[:64])
        if self.msg_id:
            parts.append(self.msg_id)
        return ":".join(parts)

    @property
    def interaction_kind(self) -> str | None:
        """The customer-service allowance this push opens: message, click, follow, scan, or None."""
        if self.is_message:
            return "message"
        if self.event in _CLICK_EVENTS:
            return "click"
        if self.event == "subscribe":
            return "follow"
        if self.event == "scan":
            return "scan"
        return None

    @property
    def is_system_event(self) -> bool:
        """Job reports sent by WeChat itself, not by the follower (no touch, no lock, no conversation)."""
        return self.event in SYSTEM_EVENTS


_FIELDS = frozenset(f.name for f in fields(Inbound))
_REQUIRED = frozenset(f.name for f in fields(Inbound) if f.default is MISSING and f.default_factory is MISSING)
# The defaults, made once: the empty mappings are read-only views, so one can serve every push.
_DEFAULTS = {f.name: f.default if f.default is not MISSING else f.default_factory()  # type: ignore[operator]
             for f in fields(Inbound) if f.name not in _REQUIRED}
