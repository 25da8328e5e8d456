"""SQLAlchemy models, one module per aggregate. Importing this registers them all."""

from models.activity import Activity, ActivitySignup, AnnouncementOptOut
from models.alert import ThresholdAlert
from models.application import Application
from models.audit import AuditEntry
from models.base import Base
from models.benefit import Benefit, BenefitClaim
from models.dashboard import DashboardLink, DashboardSession
from models.enterprise import AliasProposal, Enterprise, EnterpriseAlias
from models.founding import FoundingCase
from models.keycheck import KeyCheck
from models.member import ApplicationSequence, Member, MemberSequence
from models.membership import JobChangeRequest, MembershipEvent, MembershipTransfer
from models.menu import CommandMenu
from models.org import (
    BindCode,
    DailyDigest,
    ReceptionPoint,
    Staff,
    Street,
    UnboundGroup,
    UnionOrg,
    WeeklyDigest,
)
from models.outbox import OutboxMessage
from models.runtime import (
    BotInstance,
    ChangeStamp,
    FsmRecord,
    InboxUpdate,
    SendWindow,
    UserPreference,
)
from models.service_card import NeedsSurvey, ServiceCardBatch, ServiceCardRequest
from models.subsidy import SubsidyBudget, SubsidyEntry, SubsidyPosting
from models.tally import (
    TallyApplication,
    TallyJoined,
    TallyMember,
    TallyRegistry,
    TallyReview,
)

__all__ = [
    "Activity",
    "ActivitySignup",
    "AliasProposal",
    "AnnouncementOptOut",
    "Application",
    "ApplicationSequence",
    "AuditEntry",
    "Base",
    "Benefit",
    "BenefitClaim",
    "BindCode",
    "BotInstance",
    "ChangeStamp",
    "CommandMenu",
    "DailyDigest",
    "DashboardLink",
    "DashboardSession",
    "Enterprise",
    "EnterpriseAlias",
    "FoundingCase",
    "FsmRecord",
    "InboxUpdate",
    "JobChangeRequest",
    "KeyCheck",
    "Member",
    "MemberSequence",
    "MembershipEvent",
    "MembershipTransfer",
    "NeedsSurvey",
    "OutboxMessage",
    "ReceptionPoint",
    "SendWindow",
    "ServiceCardBatch",
    "ServiceCardRequest",
    "Staff",
    "Street",
    "SubsidyBudget",
    "SubsidyEntry",
    "SubsidyPosting",
    "TallyApplication",
    "TallyJoined",
    "TallyMember",
    "TallyRegistry",
    "TallyReview",
    "ThresholdAlert",
    "UnboundGroup",
    "UnionOrg",
    "UserPreference",
    "WeeklyDigest",
]
