"""Referral upkeep run by the scheduler: pay the stages the friends reached (each stage pays once)."""

from __future__ import annotations

from scrm.services import referrals_points


def credit_bindings() -> int:
    """Referrals whose friend has bound to a customer record since: pay REFERRAL_BIND; how many."""
    return referrals_points.scan_bindings()


def credit_purchases() -> int:
    """Referrals whose friend's bound customer bought a car since the referral: pay REFERRAL_PURCHASE."""
    return referrals_points.scan_purchases()
