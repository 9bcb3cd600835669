"""Placeholder: the message editor's preview, test send and WeChat linking pages (issue 6)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("compose", __name__)
