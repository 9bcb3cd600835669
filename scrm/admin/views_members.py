"""Members in the admin: the member list, a member's ledger with staff adjustments, and the tiers editor."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("members", __name__, url_prefix="/members")
