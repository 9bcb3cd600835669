"""附近门店: dealers nearest to a location the follower sends (or last reported), with distance and links."""

from __future__ import annotations

from scrm.wechat.router import Router

router = Router("nearby")
