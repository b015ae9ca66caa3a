"""The v1 event catalogue. Importing this package registers every event type and
upcaster, which `EventEnvelope.event()` and `upcast` look up: import it before reading
events."""

from contracts.events.command import (
    CommandApplied,
    CommandRejected,
    CommandRequested,
    WaitingSessionsAnswered,
)
from contracts.events.contact import ContactForgotten, ContactRegistered, IdentityKind
from contracts.events.control import ControlChanged, GlobalModeChanged
from contracts.events.flood import (
    CooldownEnded,
    CooldownEscalated,
    CooldownStarted,
    FloodDetected,
)
from contracts.events.inbound import (
    MessageEchoed,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    MessageStatusUpdated,
    WhatsAppStatusReported,
    WhatsAppStatusUnmatched,
)
from contracts.events.lead import (
    FieldRejectionReason,
    LeadFieldCollected,
    LeadFieldRejected,
    LeadForgotten,
    LeadMarkedReadyForHuman,
    LeadOpened,
    LeadSessionStarted,
    LeadStatusChanged,
    PhoneRevealed,
)
from contracts.events.outbound import (
    OutboundClaimed,
    OutboundFailed,
    OutboundKind,
    OutboundOutcomeUnknown,
    OutboundSendStarted,
    OutboundSent,
    OutboundSuppressed,
    SuppressionReason,
    WhatsAppMessageLinked,
)
from contracts.events.reply import ReplyDrafted, ReplyDraftFailed, TokenUsage
from contracts.events.session import NoteAdded, SessionClosed, SessionExpired, SessionStarted
from contracts.events.webhook import WebhookPayloadRejected

__all__ = [
    "CommandApplied",
    "CommandRejected",
    "CommandRequested",
    "ContactForgotten",
    "ContactRegistered",
    "ControlChanged",
    "CooldownEnded",
    "CooldownEscalated",
    "CooldownStarted",
    "FieldRejectionReason",
    "FloodDetected",
    "GlobalModeChanged",
    "IdentityKind",
    "LeadFieldCollected",
    "LeadFieldRejected",
    "LeadForgotten",
    "LeadMarkedReadyForHuman",
    "LeadOpened",
    "LeadSessionStarted",
    "LeadStatusChanged",
    "MessageEchoed",
    "MessageEdited",
    "MessageReceived",
    "MessageRevoked",
    "MessageStatusUpdated",
    "NoteAdded",
    "OutboundClaimed",
    "OutboundFailed",
    "OutboundKind",
    "OutboundOutcomeUnknown",
    "OutboundSendStarted",
    "OutboundSent",
    "OutboundSuppressed",
    "PhoneRevealed",
    "ReplyDraftFailed",
    "ReplyDrafted",
    "SessionClosed",
    "SessionExpired",
    "SessionStarted",
    "SuppressionReason",
    "TokenUsage",
    "WaitingSessionsAnswered",
    "WebhookPayloadRejected",
    "WhatsAppMessageLinked",
    "WhatsAppStatusReported",
    "WhatsAppStatusUnmatched",
]
