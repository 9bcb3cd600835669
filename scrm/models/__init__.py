"""Typed models, one module per area; re-exported here."""

from scrm.models.account import Account, Dealer
from scrm.models.analytics import (
    AnalyticsRun,
    Budget,
    BuyTimeline,
    ChurnBand,
    ChurnReason,
    CustomerScore,
    LeadIntent,
    LeadScore,
    StatDaily,
    Task,
    TaskOutcome,
    TaskRule,
    TaskStatus,
    ValueSegment,
)
from scrm.models.api_key import ApiKey
from scrm.models.booking import (
    Booking,
    BookingSettings,
    BookingSource,
    BookingStatus,
    Closure,
    DemoCar,
    OpeningHours,
    ServiceKind,
    ServiceType,
    SlotUse,
)
from scrm.models.club import (
    Audience,
    Badge,
    BadgeRule,
    ClubEvent,
    EventRegistration,
    EventStatus,
    MemberBadge,
    Redemption,
    RedemptionStatus,
    Referral,
    RegistrationStatus,
    Reward,
)
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
from scrm.models.identity import BindingCode, BindMethod, ConsentRecord, PrivacyKind, PrivacyRequest
from scrm.models.loyalty import (
    EarningRule,
    EntryKind,
    LoyaltySettings,
    Member,
    PointsAllocation,
    PointsEntry,
    Tier,
    Trigger,
)
from scrm.models.marketing import (
    HOLDOUT,
    Campaign,
    CampaignChannel,
    CampaignMember,
    CampaignRun,
    CampaignStatus,
    Journey,
    JourneyEnrolment,
    JourneyKind,
    LinkClick,
    ScheduleKind,
    Segment,
    TrackedLink,
)
from scrm.models.quality import DuplicatePair, MergeRecord, PairKind, PairStatus, QualitySnapshot
from scrm.models.staff import AuditLog, Role, StaffUser

__all__ = [
    "HOLDOUT", "Account", "AnalyticsRun", "ApiKey", "Audience", "AuditLog", "Badge", "BadgeRule", "BindMethod",
    "BindingCode", "Booking", "BookingSettings", "BookingSource", "BookingStatus", "Budget", "BuyTimeline",
    "Campaign", "CampaignChannel", "CampaignMember", "CampaignRun", "CampaignStatus", "Channel", "ChurnBand",
    "ChurnReason", "Closure", "ClubEvent", "ConsentRecord", "Customer", "CustomerBinding", "CustomerScore", "Dealer",
    "Delivery", "DeliveryStatus", "DemoCar", "Direction", "DuplicatePair", "EarningRule", "EntryKind",
    "EventRegistration", "EventStatus", "Follower", "Gender", "ImportJob", "ImportKind", "ImportStatus", "Journey",
    "JourneyEnrolment", "JourneyKind", "KeywordReply", "LeadIntent", "LeadScore", "LinkClick", "LoyaltySettings",
    "MatchMode", "Member", "MemberBadge", "MenuVersion", "MergeRecord", "MessageLog", "OpeningHours", "PairKind",
    "PairStatus", "PointsAllocation", "PointsEntry", "PrivacyKind", "PrivacyRequest", "QrScene", "QualitySnapshot",
    "Redemption", "RedemptionStatus", "Referral", "RegistrationStatus", "RepairOrder", "ReplyKind", "Reward", "Role",
    "SceneKind", "ScheduleKind", "Segment", "ServiceKind", "ServiceType", "SlotUse", "StaffNote", "StaffUser",
    "Stage", "StatDaily", "Task", "TaskOutcome", "TaskRule", "TaskStatus", "Tier", "TimelineEntry", "TrackedLink",
    "Trigger", "ValueSegment", "Vehicle",
]
