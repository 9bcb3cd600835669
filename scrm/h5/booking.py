"""The follower's booking pages: a calendar to book, and 我的预约 to see, cancel or move bookings."""

from __future__ import annotations
