"""Follower pages opened from chat (being built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("h5", __name__, url_prefix="/h5")
