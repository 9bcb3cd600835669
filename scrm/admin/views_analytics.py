"""Placeholder: analytics pages (issue 7), being written."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("analytics", __name__, url_prefix="/analytics")
