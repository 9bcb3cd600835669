"""The rewards catalogue, redemptions and voucher use at the counter."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("rewards", __name__, url_prefix="/rewards")
