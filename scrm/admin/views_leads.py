"""Placeholder: leads pages (issue 7), being written."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("leads", __name__, url_prefix="/leads")
