"""Booking in chat: 预约保养 / 预约试驾 -> dealer -> vehicle -> service -> day -> time -> confirm."""

from __future__ import annotations

from scrm.wechat.router import Router

router = Router("booking")
