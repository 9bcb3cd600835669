"""The follower's club pages: upcoming events, registering with companions, my events."""

from __future__ import annotations
