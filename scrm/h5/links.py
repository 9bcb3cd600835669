"""The entries of the follower's "my account" page; feature areas register theirs (bookings, points, ...)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class H5Link:
    """One entry: an endpoint taking `slug`, a label msgid (lazy_gettext), a one-character icon."""

    endpoint: str
    label: object
    icon: str = "›"
    order: int = 100


_links: dict[str, H5Link] = {}


def register_link(endpoint: str, label: object, icon: str = "›", order: int = 100) -> None:
    """Show a link to `endpoint` on the account page (registering the same endpoint again replaces it)."""
    _links[endpoint] = H5Link(endpoint=endpoint, label=label, icon=icon, order=order)


def links() -> list[H5Link]:
    """Registered links in display order."""
    return sorted(_links.values(), key=lambda link: (link.order, link.endpoint))
