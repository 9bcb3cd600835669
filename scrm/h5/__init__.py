"""Follower pages opened from chat (/h5/<slug>/...), signed in through WeChat's web authorization."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("h5", __name__, url_prefix="/h5")

from scrm.h5 import (  # noqa: E402,F401  (routes register on bp when imported)
    auth,
    binding,
    booking,
    club,
    intent,
    leaderboard,
    member,
    preferences,
    referral,
    rewards,
    views,
)
