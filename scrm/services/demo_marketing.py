"""Demo marketing for `scrm demo`: saved segments, journeys switched on (maintenance with the sandbox's
保养到期提醒 template), and a draft campaign ready for a dry run and a launch."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from scrm import runtime
from scrm.models import Campaign, CampaignChannel, Dealer, JourneyKind, Segment
from scrm.sandbox.entities import template_id_for
from scrm.services import journeys
from scrm.services.segment_check import normalise

SEGMENTS: list[tuple[str, str, dict[str, Any]]] = [
    ("半年未保养的车主", "上次保养在 180 天以前，或没有保养记录", {"match": "all", "rules": [
        {"field": "stage", "op": "in", "value": ["owner"]},
        {"field": "last_service", "op": "not_within_last_days", "value": 180}]}),
    ("车龄 3 年以上", "可以推荐置换与延保", {"match": "all", "rules": [
        {"field": "vehicle_age", "op": "gt", "value": 3}]}),
    ("保险 30 天内到期", "续保提醒的对象", {"match": "all", "rules": [
        {"field": "insurance_expiry", "op": "within_next_days", "value": 30}]}),
    ("已关注未绑定", "关注了公众号但还没有绑定车主身份", {"match": "all", "rules": [
        {"field": "bound", "op": "is", "value": False},
        {"field": "subscribed", "op": "is", "value": True}]}),
]
SERVICE_TEXT = ("{{ customer.salutation }}，您的{{ vehicle.model }}已经半年多没有保养了。冬季来临，"
                "建议检查电瓶、轮胎和防冻液。点击菜单“预约服务”即可预约，或致电 {{ dealer.phone }}。")


def _service_template(app_id: str) -> dict[str, Any]:
    return {"template_id": template_id_for(app_id, "service_reminder"), "url": "",
            "fields": {"car_number1": "{{ vehicle.plate }}", "thing2": "{{ vehicle.model|truncate(20, True, '') }}",
                       "time3": "{{ vehicle.last_service_date|date('%Y年%m月%d日') }}", "thing4": "冬季保养检查"}}


def seed_marketing(s: Session, acc_id: int, dealers: list[Dealer], now: datetime) -> dict[str, int]:
    """Segments and a draft campaign for the first dealer, journeys switched on for every dealer."""
    settings = runtime.get().settings
    account = next(iter(settings.accounts.values()))
    template = _service_template(account.app_id)
    first = dealers[0]
    segments = []
    for name, description, definition in SEGMENTS:
        seg = Segment(account_id=acc_id, dealer_id=first.id, name=name, description=description,
                      definition=normalise(definition, brand=False), created_at=now, updated_at=now)
        s.add(seg)
        segments.append(seg)
    s.flush()
    message = {"kind": "text", "text": SERVICE_TEXT, "template": template}
    s.add(Campaign(account_id=acc_id, dealer_id=first.id, name="冬季保养季关怀", segment_id=segments[0].id,
                   channel=CampaignChannel.AUTO, variants=[{"key": "A", "weight": 100, "message": message}],
                   holdout_pct=10, conversion_days=14, created_at=now, updated_at=now))
    enabled = 0
    for dealer in dealers:
        for journey in journeys.ensure(s, acc_id, dealer.id):
            if journey.kind in (JourneyKind.WELCOME, JourneyKind.MAINTENANCE, JourneyKind.BIRTHDAY,
                                JourneyKind.INSURANCE):
                journey.enabled = True
                enabled += 1
            if journey.kind == JourneyKind.MAINTENANCE:
                journey.steps = [dict(step, message={**step["message"], "template": template})
                                 for step in journey.steps]
    return {"segments": len(segments), "campaigns": 1, "journeys_enabled": enabled}
