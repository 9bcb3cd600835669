"""The member centre: balance, tier progress, streak and check-in, points history, badges."""

from __future__ import annotations
