"""Placeholder until the binding pages land (this session)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("binding", __name__, url_prefix="/binding")
