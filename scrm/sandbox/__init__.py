"""Offline WeChat (being built)."""

from __future__ import annotations

from flask import Flask


def init_sandbox(app: Flask) -> None:
    """Mount the fake WeChat API and the phone simulator."""
