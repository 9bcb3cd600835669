"""A prospect's stated purchase intent: the dealer's model list, and saving the form (H5 or staff)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Budget, BuyTimeline, CustomerBinding, DemoCar, Follower, LeadIntent, Vehicle
from scrm.services.errors import Invalid
from scrm.services.normalize_base import N_

OTHER = "__other__"
MODEL_MAX = 100
NOTE_MAX = 500


@dataclass(frozen=True)
class IntentForm:
    """What the form posts: `model` is one of the dealer's models or OTHER (then `other` holds the text)."""

    model: str = ""
    other: str = ""
    budget: str = ""
    timeline: str = ""
    note: str = ""


def models_of(s: Session, dealer_ids: Iterable[int | None]) -> dict[int, list[str]]:
    """The model vocabulary per dealer: its demo cars' models and its customers' vehicle models, sorted."""
    ids = sorted({d for d in dealer_ids if d is not None})
    out: dict[int, set[str]] = {d: set() for d in ids}
    if not ids:
        return {}
    rows: Any = s.execute(sa.union(
        sa.select(DemoCar.dealer_id, DemoCar.model).where(DemoCar.dealer_id.in_(ids), DemoCar.active.is_(True)),
        sa.select(Vehicle.dealer_id, Vehicle.model).where(Vehicle.dealer_id.in_(ids), Vehicle.model.is_not(None))))
    for dealer_id, model in rows:
        text = (model or "").strip()
        if text:
            out[int(dealer_id)].add(text)
    return {d: sorted(m) for d, m in out.items()}


def dealer_models(s: Session, dealer_id: int | None) -> list[str]:
    """The models a follower of this dealer may choose from (empty without a dealer)."""
    return models_of(s, [dealer_id]).get(dealer_id or 0, [])


def clean(form: IntentForm, models: list[str]) -> tuple[str, Budget, BuyTimeline, str]:
    """The validated (model, budget, timeline, note); Invalid names the first bad field."""
    if form.model == OTHER:
        model = " ".join(form.other.split())
        if not model:
            raise Invalid(N_("Please write the model you are interested in."), field="other")
        if len(model) > MODEL_MAX:
            raise Invalid(N_("The model name is too long (at most %(n)s characters)."), field="other", n=MODEL_MAX)
    elif form.model in models:
        model = form.model
    else:
        raise Invalid(N_("Please choose the model you are interested in."), field="model")
    try:
        budget = Budget(form.budget)
    except ValueError:
        raise Invalid(N_("Please choose your budget."), field="budget") from None
    try:
        timeline = BuyTimeline(form.timeline)
    except ValueError:
        raise Invalid(N_("Please choose when you plan to buy."), field="timeline") from None
    note = form.note.strip()
    if len(note) > NOTE_MAX:
        raise Invalid(N_("The note is too long (at most %(n)s characters)."), field="note", n=NOTE_MAX)
    return model, budget, timeline, note


def of_follower(s: Session, follower_id: int) -> LeadIntent | None:
    """The follower's stated intent, if any."""
    return s.scalar(sa.select(LeadIntent).where(LeadIntent.follower_id == follower_id))


def write(s: Session, follower: Follower, form: IntentForm, *, source: str,
          staff_id: int | None = None) -> LeadIntent:
    """Validate and save (insert or update) the follower's intent in the caller's transaction."""
    model, budget, timeline, note = clean(form, dealer_models(s, follower.dealer_id))
    row = of_follower(s, follower.id)
    now = db.utcnow()
    if row is None:
        row = LeadIntent(account_id=follower.account_id, follower_id=follower.id, created_at=now)
        s.add(row)
    customer = s.scalar(sa.select(CustomerBinding.customer_id).where(CustomerBinding.follower_id == follower.id)
                        .order_by((CustomerBinding.dealer_id == follower.dealer_id).desc(), CustomerBinding.id.desc())
                        .limit(1))
    row.dealer_id, row.customer_id = follower.dealer_id, customer
    row.model, row.budget, row.timeline, row.note = model, budget, timeline, note
    row.source, row.updated_by, row.updated_at = source, staff_id, now
    s.flush()
    return row


def save_h5(follower_id: int, form: IntentForm) -> LeadIntent:
    """The follower's own form from the H5 page (its own transaction)."""
    with db.transaction() as s:
        follower = s.get(Follower, follower_id)
        if follower is None:
            raise Invalid(N_("Please follow the account first."))
        row = write(s, follower, form, source="h5")
        s.expunge(row)
        return row
