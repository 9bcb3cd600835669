"""Binding domain events: published by `binding.link_in` in the binding's own transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CustomerBound:
    """A follower was bound to a customer record at a dealer (`method` is a BindMethod value)."""

    follower_id: int
    customer_id: int
    dealer_id: int
    account_id: int
    binding_id: int
    method: str
    at: datetime
