"""Placeholder: the campaigns pages are being written (issue 6)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("campaigns", __name__)
