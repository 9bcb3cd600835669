"""What the segment builder shows besides counts: a sample of members, and the choices its inputs offer.

Labels here are English msgids; the admin view translates them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from scrm import db
from scrm.models import Customer, Follower, Gender, Segment, Stage, Tier, Vehicle
from scrm.services import segments
from scrm.services.analytics_common import CHURN_BAND_LABELS, VALUE_SEGMENT_LABELS
from scrm.services.customer_admin import model_choices, show_phone
from scrm.services.keyword_admin import dealer_choices
from scrm.services.scope import Perm, Scope
from scrm.services.segment_fields import FIELDS, OP_LABELS

SAMPLE_MAX = 50
TOP_TAGS = 200
STAGE_LABELS = {Stage.LEAD.value: "Lead", Stage.PROSPECT.value: "Prospect", Stage.OWNER.value: "Owner",
                Stage.LOST.value: "Lost"}
GENDER_LABELS = {Gender.MALE.value: "Male", Gender.FEMALE.value: "Female"}


@dataclass(frozen=True)
class SampleRow:
    """One contact of a sample: a customer (maybe with a follower) or a follower without a record."""

    customer_id: int | None
    follower_id: int | None
    name: str
    phone: str
    city: str
    stage: str
    model: str
    bound: bool
    subscribed: bool


def _sample(s: Session, scope: Scope, contacts: Any, limit: int) -> list[SampleRow]:
    first_model = (sa.select(Vehicle.model).where(Vehicle.customer_id == contacts.c.customer_id)
                   .order_by(Vehicle.id).limit(1).correlate(contacts).scalar_subquery())
    stmt = (sa.select(contacts.c.customer_id, contacts.c.follower_id, Customer.name, Customer.mobile,
                      Customer.landline, Customer.city, Customer.stage, Follower.remark, Follower.subscribed,
                      first_model.label("model"))
            .select_from(contacts)
            .outerjoin(Customer, Customer.id == contacts.c.customer_id)
            .outerjoin(Follower, Follower.id == contacts.c.follower_id)
            .order_by(contacts.c.customer_id.is_(None), contacts.c.customer_id.desc(), contacts.c.follower_id.desc())
            .limit(max(1, min(limit, SAMPLE_MAX))))
    out: list[SampleRow] = []
    for r in s.execute(stmt):
        out.append(SampleRow(
            customer_id=r.customer_id, follower_id=r.follower_id,
            name=(r.name or "") if r.customer_id is not None else (r.remark or ""),
            phone=show_phone(scope, r.mobile or r.landline), city=r.city or "",
            stage=r.stage.value if r.stage is not None else "", model=r.model or "",
            bound=r.customer_id is not None and r.follower_id is not None, subscribed=bool(r.subscribed)))
    return out


def sample(scope: Scope, definition: Any, dealer_id: int | None, limit: int = 20) -> list[SampleRow]:
    """Up to `limit` contacts of an (unsaved) definition, newest customers first; phones as the user may see them."""
    scope.require(Perm.SEGMENTS_EDIT)
    with db.transaction() as s:
        return _sample(s, scope, segments.audience_query(s, scope, definition, dealer_id), limit)


def sample_saved(scope: Scope, segment_id: int, limit: int = 20) -> list[SampleRow]:
    """Up to `limit` contacts of a saved segment in scope (any staff member who may see the segment)."""
    with db.transaction() as s:
        seg = scope.get(s, Segment, segment_id, shared=True)
        return _sample(s, scope, segments.audience_query(s, scope, seg.definition, seg.dealer_id), limit)


def top_tags(scope: Scope, limit: int = TOP_TAGS) -> list[str]:
    """The most used customer tags in scope, most used first."""
    base = scope.apply(sa.select(Customer.id, Customer.tags), Customer).where(
        Customer.merged_into_id.is_(None), Customer.erased_at.is_(None)).subquery("c")
    if db.is_postgres():
        tag = sa.func.jsonb_array_elements_text(
            sa.func.coalesce(sa.cast(base.c.tags, JSONB), sa.text("'[]'::jsonb"))
        ).table_valued("value").render_derived()
    else:
        tag = sa.func.json_each(base.c.tags).table_valued("value")
    stmt = (sa.select(tag.c.value, sa.func.count().label("n")).select_from(base).join(tag, sa.true())
            .group_by(tag.c.value).order_by(sa.desc("n"), tag.c.value).limit(limit))
    return [str(v) for v, _ in db.session.execute(stmt) if v]


def top_cities(scope: Scope, limit: int = TOP_TAGS) -> list[str]:
    """The most common customer cities in scope."""
    stmt = (scope.apply(sa.select(Customer.city, sa.func.count().label("n")), Customer)
            .where(Customer.city.isnot(None), Customer.city != "")
            .group_by(Customer.city).order_by(sa.desc("n"), Customer.city).limit(limit))
    return [str(c) for c, _ in db.session.execute(stmt)]


def choices(scope: Scope) -> dict[str, Any]:
    """Everything the builder offers: fields with their operators, choice values, tags, models, cities."""
    fields = [{"key": f.key, "label": f.label, "kind": f.kind.value, "unit": f.unit, "choices": f.choices,
               "ops": [{"key": op, "label": OP_LABELS[op]} for op in f.ops]}
              for f in FIELDS if scope.all_dealers or not f.brand_only]
    tiers = db.session.scalars(sa.select(Tier).where(Tier.account_id == scope.account_id)
                               .order_by(Tier.sort_order, Tier.id))
    values: dict[str, list[dict[str, str]]] = {
        "stage": [{"value": k, "label": v} for k, v in STAGE_LABELS.items()],
        "gender": [{"value": k, "label": v} for k, v in GENDER_LABELS.items()],
        "tier": [{"value": t.code, "label": t.name} for t in tiers],
        "churn_band": [{"value": k.value, "label": v} for k, v in CHURN_BAND_LABELS.items()],
        "value_segment": [{"value": k.value, "label": v} for k, v in VALUE_SEGMENT_LABELS.items()],
        "dealer": ([{"value": str(d.id), "label": d.name} for d in dealer_choices(scope)]
                   if scope.all_dealers else []),
    }
    return {"fields": fields, "values": values, "tags": top_tags(scope), "models": model_choices(scope),
            "cities": top_cities(scope)}
