"""Placeholder: staff link their own WeChat for test sends (issue 6)."""

from __future__ import annotations

from scrm.wechat.router import Router

router = Router("staff_link")
