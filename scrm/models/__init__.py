"""Typed models, one module per area; re-exported here."""

from scrm.models.account import Account, Dealer
from scrm.models.content import KeywordReply, MatchMode, MenuVersion, ReplyKind
from scrm.models.delivery import Channel, Delivery, DeliveryStatus
from scrm.models.follower import Direction, Follower, MessageLog, QrScene, SceneKind
from scrm.models.staff import AuditLog, Role, StaffUser

__all__ = [
    "Account", "AuditLog", "Channel", "Dealer", "Delivery", "DeliveryStatus", "Direction", "Follower",
    "KeywordReply", "MatchMode", "MenuVersion", "MessageLog", "QrScene", "ReplyKind", "Role",
    "SceneKind", "StaffUser",
]
