"""Placeholder until the quality pages land (this session)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("quality", __name__, url_prefix="/quality")
