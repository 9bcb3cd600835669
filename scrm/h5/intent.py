"""Placeholder: the prospect's purchase-intent form (issue 7), being written."""

from __future__ import annotations
