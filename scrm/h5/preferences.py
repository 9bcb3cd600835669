"""Placeholder: the follower's message preferences page (issue 6)."""

from __future__ import annotations
