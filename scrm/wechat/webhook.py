"""POST/GET /wechat/<slug>: the webhook (being built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("wechat", __name__)
