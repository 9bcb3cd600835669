"""Pagination for list pages: one shape for every table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

T = TypeVar("T")

MAX_PER_PAGE = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results plus what the pager needs."""

    items: Sequence[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """Number of pages (at least 1)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        """True when there is a previous page."""
        return self.page > 1

    @property
    def has_next(self) -> bool:
        """True when there is a next page."""
        return self.page < self.pages

    @property
    def first_index(self) -> int:
        """1-based index of the first item shown (0 when empty)."""
        return (self.page - 1) * self.per_page + 1 if self.items else 0

    @property
    def last_index(self) -> int:
        """1-based index of the last item shown."""
        return (self.page - 1) * self.per_page + len(self.items)

    def window(self, size: int = 2) -> list[int | None]:
        """Page numbers to show around the current one; None marks a gap."""
        wanted = {1, self.pages} | set(range(self.page - size, self.page + size + 1))
        nums = sorted(n for n in wanted if 1 <= n <= self.pages)
        out: list[int | None] = []
        last = 0
        for n in nums:
            if last and n - last > 1:
                out.append(None)
            out.append(n)
            last = n
        return out


def clamp_page(value: Any) -> int:
    """A page number from user input: positive int, else 1."""
    try:
        n = int(value)
    except (TypeError, ValueError):
        return 1
    return n if 1 <= n <= 1_000_000 else 1


def paginate(s: Session, stmt: sa.Select[Any], page: int, per_page: int = 50) -> Page[Any]:
    """Run `stmt` for one page; a page past the end shows the last page."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    total = s.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    result = s.execute(stmt.limit(per_page).offset((page - 1) * per_page))
    single = len(stmt.column_descriptions) == 1
    items = list(result.scalars().all()) if single else list(result.all())
    return Page(items=items, page=page, per_page=per_page, total=int(total))
