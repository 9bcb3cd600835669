"""Typed models, one module per area; re-exported here."""

from scrm.models.account import Account, Dealer
from scrm.models.api_key import ApiKey
from scrm.models.content import KeywordReply, MatchMode, MenuVersion, ReplyKind
from scrm.models.customer import (
    Customer,
    CustomerBinding,
    Gender,
    ImportJob,
    ImportKind,
    ImportStatus,
    RepairOrder,
    StaffNote,
    Stage,
    TimelineEntry,
    Vehicle,
)
from scrm.models.delivery import Channel, Delivery, DeliveryStatus
from scrm.models.follower import Direction, Follower, MessageLog, QrScene, SceneKind
from scrm.models.staff import AuditLog, Role, StaffUser

__all__ = [
    "Account", "ApiKey", "AuditLog", "Channel", "Customer", "CustomerBinding", "Dealer", "Delivery", "DeliveryStatus",
    "Direction", "Follower", "Gender", "ImportJob", "ImportKind", "ImportStatus", "KeywordReply", "MatchMode",
    "MenuVersion", "MessageLog", "QrScene", "RepairOrder", "ReplyKind", "Role", "SceneKind", "StaffNote",
    "StaffUser", "Stage", "TimelineEntry", "Vehicle",
]
