"""The rewards pages: the catalogue, redeeming, and my vouchers with their QR codes."""

from __future__ import annotations
