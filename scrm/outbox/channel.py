"""Which channel a delivery goes out on: a pure function of the row and the follower's window.

WeChat allows customer-service messages only inside a window opened by the user (WECHAT.md 4.3):
a message opens 48 hours and 5 sends; a menu click, a follow or a QR scan opens 1 minute and 3 sends.
Outside it, a template message is the way to reach the follower.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from scrm.models import Channel

# interaction kind -> (window length, customer-service messages allowed in it)
WINDOWS: dict[str, tuple[timedelta, int]] = {
    "message": (timedelta(hours=48), 5),
    "click": (timedelta(minutes=1), 3),
    "follow": (timedelta(minutes=1), 3),
    "scan": (timedelta(minutes=1), 3),
}
# A message may reach WeChat a moment after we decided: keep a little slack before the window closes.
SAFETY = timedelta(seconds=5)


@dataclass(frozen=True)
class Window:
    """What we know about the follower's customer-service window."""

    interaction_at: datetime | None
    kind: str
    sent_since: int


@dataclass(frozen=True)
class Choice:
    """The channel to use and the body to send; `channel` None means skip for `reason`."""

    channel: Channel | None
    body: dict[str, Any] | None
    reason: str = ""
    fallback: dict[str, Any] | None = None   # a template to try if WeChat says the window is closed


def window_open(window: Window | None, now: datetime) -> bool:
    """True when a customer-service message may be sent now."""
    if window is None or window.interaction_at is None or window.kind not in WINDOWS:
        return False
    length, allowed = WINDOWS[window.kind]
    return window.sent_since < allowed and now < window.interaction_at + length - SAFETY


def choose(channel: Channel, payload: dict[str, Any], window: Window | None, now: datetime) -> Choice:
    """Pick the channel for a row: CUSTOM, TEMPLATE and MASS as given; AUTO by the window."""
    if channel in (Channel.CUSTOM, Channel.TEMPLATE, Channel.MASS):
        return Choice(channel, payload)
    custom = payload.get("custom")
    template = payload.get("template")
    custom = custom if isinstance(custom, dict) and custom else None
    template = template if isinstance(template, dict) and template else None
    if custom is None and template is None:
        return Choice(None, None, "no message in payload")
    if custom is not None and window_open(window, now):
        return Choice(Channel.CUSTOM, custom, fallback=template)
    if template is not None:
        return Choice(Channel.TEMPLATE, template)
    return Choice(None, None, "window closed")
