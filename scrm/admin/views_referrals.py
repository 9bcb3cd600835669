"""Referrals in the admin: who brought whom, and the points paid for it."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("referrals", __name__, url_prefix="/referrals")
