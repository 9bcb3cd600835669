"""Helpers for the binding tests: a chat through the real webhook and row lookups."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from scrm import db
from scrm.models import ConsentRecord, Customer, CustomerBinding, TimelineEntry
from tests import wechat_xml as wx

# Events are deduplicated on (openid, CreateTime): give every event of a test its own second.
_event_times = itertools.count(int(time.time()))


@dataclass
class Chat:
    """One follower talking to the bot through the signed webhook."""

    client: Any
    settings: Any
    openid: str
    slug: str = "demo"

    def post(self, xml: str) -> str:
        status, body = wx.post(self.client, self.slug, xml, self.settings.accounts[self.slug])
        assert status == 200, body
        if body == "success":
            return ""
        fields = wx.reply_fields(body)
        assert fields["MsgType"] == "text", body
        return str(fields["Content"])

    def send(self, content: str) -> str:
        return self.post(wx.text_msg(self.openid, content))

    def click(self, key: str) -> str:
        return self.post(wx.click(self.openid, key, create_time=next(_event_times)))

    def scan(self, scene: str) -> str:
        return self.post(wx.scan(self.openid, scene, create_time=next(_event_times)))

    def follow(self, scene: str | None = None) -> str:
        return self.post(wx.subscribe(self.openid, scene=scene, create_time=next(_event_times)))


def bindings() -> list[CustomerBinding]:
    """Every binding row."""
    with db.transaction() as s:
        return list(s.scalars(sa.select(CustomerBinding).order_by(CustomerBinding.id)))


def consents() -> list[ConsentRecord]:
    """Every consent record."""
    with db.transaction() as s:
        return list(s.scalars(sa.select(ConsentRecord).order_by(ConsentRecord.id)))


def customer(customer_id: int) -> Customer:
    """A customer row, fresh."""
    with db.transaction() as s:
        c = s.get(Customer, customer_id)
        assert c is not None
        return c


def customers() -> list[Customer]:
    """Every customer row."""
    with db.transaction() as s:
        return list(s.scalars(sa.select(Customer).order_by(Customer.id)))


def timeline(customer_id: int) -> list[tuple[str, str]]:
    """(kind, title) of the customer's timeline, oldest first."""
    with db.transaction() as s:
        return [(t.kind, t.title) for t in s.scalars(sa.select(TimelineEntry).where(
            TimelineEntry.customer_id == customer_id).order_by(TimelineEntry.id))]
