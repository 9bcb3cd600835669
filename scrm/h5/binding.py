"""Placeholder until the H5 binding form lands (this session)."""

from __future__ import annotations
