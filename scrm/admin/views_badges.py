"""Badges and the monthly leaderboard in the admin."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("badges", __name__, url_prefix="/badges")
