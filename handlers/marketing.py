"""Placeholder: opting out of and back into marketing, and staff linking their WeChat (issue 6)."""

from __future__ import annotations

from scrm.wechat.router import Router

router = Router("marketing")
