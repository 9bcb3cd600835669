"""Referrals in chat: 推荐 / 邀请好友 shows the member's personal QR code; friends following through it."""

from __future__ import annotations

from scrm.wechat.router import Router

router = Router("referral")
