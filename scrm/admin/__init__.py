"""Staff pages (being built)."""

from __future__ import annotations

from flask import Flask


def init_admin(app: Flask) -> None:
    """Register the admin blueprints, CSRF and login handling."""
