"""Placeholder: the tracked-link redirect /l/<token>/<ref> is being written (issue 6)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("track", __name__)
