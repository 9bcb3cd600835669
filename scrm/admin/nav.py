"""The navigation registry: groups in the left bar and the pages in them.

Later pages add themselves with `add_item(...)` (and, for a new section, `add_group(...)`) from
their views module; labels are English msgids translated when the bar is drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import request, url_for
from flask_babel import gettext

from scrm.services.scope import Perm, Scope


@dataclass(frozen=True)
class NavItem:
    """One link: `endpoint` is the Flask endpoint; `active_prefixes` also highlight it."""

    group: str
    endpoint: str
    label: str
    order: int = 100
    perm: Perm | None = None
    visible: Callable[[Scope], bool] | None = None
    active_prefixes: tuple[str, ...] = ()
    badge: Callable[[Scope], int] | None = None   # a count shown beside the label (0: none)


@dataclass
class NavGroup:
    key: str
    label: str
    order: int
    items: list[NavItem] = field(default_factory=list)


_groups: dict[str, NavGroup] = {}


def add_group(key: str, label: str, order: int) -> None:
    """Declare a section of the bar (idempotent)."""
    _groups.setdefault(key, NavGroup(key, label, order))


def add_item(item: NavItem) -> None:
    """Add a link to its group (idempotent per endpoint)."""
    group = _groups[item.group]
    group.items = [i for i in group.items if i.endpoint != item.endpoint] + [item]
    group.items.sort(key=lambda i: (i.order, i.endpoint))


def _allowed(item: NavItem, scope: Scope) -> bool:
    if item.perm is not None and not scope.can(item.perm):
        return False
    return item.visible is None or item.visible(scope)


def _is_active(item: NavItem) -> bool:
    endpoint = request.endpoint or ""
    if endpoint == item.endpoint:
        return True
    return any(endpoint.startswith(p) for p in item.active_prefixes)


def build(scope: Scope) -> list[dict[str, object]]:
    """The bar for this user: groups with their visible links, each marked active or not."""
    out: list[dict[str, object]] = []
    for group in sorted(_groups.values(), key=lambda g: g.order):
        links = [{"label": gettext(i.label), "url": url_for(i.endpoint), "active": _is_active(i),
                  "badge": i.badge(scope) if i.badge else 0}
                 for i in group.items if _allowed(i, scope)]
        if links:
            out.append({"key": group.key, "label": gettext(group.label), "links": links})
    return out


def title_for_endpoint() -> str:
    """The translated label of the current page's nav item ('' when it has none)."""
    for group in _groups.values():
        for item in group.items:
            if _is_active(item):
                return gettext(item.label)
    return ""


add_group("overview", "Overview", 10)
add_group("followers", "Followers", 20)
add_group("customers", "Customers", 25)
add_group("content", "Content", 30)
add_group("settings", "Settings", 80)
add_group("audit", "Audit", 90)
