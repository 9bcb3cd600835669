"""Loyalty rules in the admin: earning rules with caps (account-wide and per dealer), points validity."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("loyalty_rules", __name__, url_prefix="/loyalty/rules")
