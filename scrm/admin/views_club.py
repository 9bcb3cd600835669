"""Owners' club events: create, publish, push, registrations, waitlist, check-in, attendee export."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("club", __name__, url_prefix="/club")
