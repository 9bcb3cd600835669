"""Placeholder: the journeys pages are being written (issue 6)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("journeys", __name__)
