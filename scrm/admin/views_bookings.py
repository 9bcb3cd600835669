"""Bookings in the admin: the day and week calendar, the booking list, check-in / complete / no-show,
and booking on behalf of a caller."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("bookings", __name__, url_prefix="/bookings")
