"""Booking set-up in the admin: rules, opening hours, closures, service types with their capacity, demo fleet."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("booking_setup", __name__, url_prefix="/booking-setup")
