"""我的预约 in chat: list the follower's bookings, cancel or move one within the dealer's rules."""

from __future__ import annotations

from scrm.wechat.router import Router

router = Router("my_bookings")
