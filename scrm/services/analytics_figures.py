"""Placeholder (issue 7): the dashboard figures, being written. Every function returns a `Figure`."""

from __future__ import annotations

from scrm.services.analytics_common import Figure, Period
from scrm.services.scope import Scope


def followers_over_time(scope: Scope, period: Period) -> Figure:
    """Per day: new follows, unfollows, net, and following at the end of the day."""
    raise NotImplementedError


def followers_by_scene(scope: Scope, period: Period) -> Figure:
    """New follows in the period by source scene kind."""
    raise NotImplementedError


def followers_by_staff(scope: Scope, period: Period) -> Figure:
    """New follows in the period per staff QR code (staff display names)."""
    raise NotImplementedError


def funnel(scope: Scope, period: Period) -> Figure:
    """Followers who followed in the period, and how many of them went on to bind, book, visit and buy."""
    raise NotImplementedError


def bookings_by_type(scope: Scope, period: Period) -> Figure:
    """Bookings made per day by service kind."""
    raise NotImplementedError


def points(scope: Scope, period: Period) -> Figure:
    """Points earned and spent per day."""
    raise NotImplementedError


def campaign_lift(scope: Scope, period: Period) -> Figure:
    """Campaigns launched in the period with a holdout: each arm's conversion rate, lift and 95% interval."""
    raise NotImplementedError


def service_cohorts(scope: Scope, period: Period) -> Figure:
    """Customers by the month of a service visit, and the share back within 6 and within 12 months."""
    raise NotImplementedError


def churn_distribution(scope: Scope, period: Period) -> Figure:
    """Customers per churn score bucket (0-9 ... 90-100), from the latest nightly scoring."""
    raise NotImplementedError


def value_segments(scope: Scope, period: Period) -> Figure:
    """Customers per value segment, with their spend, from the latest nightly scoring."""
    raise NotImplementedError
