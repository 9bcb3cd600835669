"""Loyalty in chat: 签到 (daily check-in), 积分 (balance, tier, streak, expiring points), 会员中心 links."""

from __future__ import annotations

from scrm.wechat.router import Router

router = Router("loyalty")
