"""The member's personal referral page: the QR code to share and the friends it brought."""

from __future__ import annotations
