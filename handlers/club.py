"""Owners' club in chat: upcoming events, register (with companions), cancel, my events; check-in scenes."""

from __future__ import annotations

from scrm.wechat.router import Router

router = Router("club")
