"""Placeholder: the segments pages are being written (issue 6)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("segments", __name__)
