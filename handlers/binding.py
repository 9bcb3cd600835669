"""Placeholder until the binding conversation lands (this session)."""

from __future__ import annotations

from scrm.wechat.router import Router

router = Router("binding")
