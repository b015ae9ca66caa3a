"""An outbound message's way out, at most once.

`OutboundClaimed` is appended in the transaction that checks the gate (invariant 1);
the sender appends `OutboundSendStarted` before calling the API, so after a crash an
outbound that was started but has no result is `OutboundOutcomeUnknown`, for an
operator to resolve, and never resent blindly (invariant 3)."""

from __future__ import annotations

from enum import StrEnum

from contracts.envelope import Event
from contracts.vocabulary import (
    ContactHash,
    ControlVersion,
    Diagnostic,
    EntityId,
    MessageText,
    OperatorId,
    SealedText,
    WaMessageRef,
    WhatsAppErrorCode,
)


class OutboundKind(StrEnum):
    REPLY = "REPLY"
    """The responder's reply (actor LLM)."""
    FLOOD_WARNING = "FLOOD_WARNING"
    """The one warning per cooldown (actor SYSTEM); its id derives from the cooldown's."""
    OPERATOR = "OPERATOR"
    """SEND_MESSAGE by the operator holding the takeover (actor HUMAN)."""
    APP = "APP"
    """A person's message from the WhatsApp Business app (`MessageEchoed`): never
    claimed nor sent by Switchboard, tracked only for its delivery statuses."""


class SuppressionReason(StrEnum):
    GLOBAL_PAUSED = "GLOBAL_PAUSED"
    HUMAN_TAKEOVER = "HUMAN_TAKEOVER"
    SESSION_PAUSED = "SESSION_PAUSED"
    SESSION_CLOSED = "SESSION_CLOSED"
    COOLDOWN_ACTIVE = "COOLDOWN_ACTIVE"
    CONTROL_CHANGED = "CONTROL_CHANGED"
    """The control version moved since the draft (e.g. a takeover committed first)."""
    SUPERSEDED = "SUPERSEDED"
    """A newer inbound message arrived: a later draft answers the whole burst."""
    WINDOW_CLOSED = "WINDOW_CLOSED"
    """More than 24 hours since the customer's last message: no free-form reply."""
    CONTACT_FORGOTTEN = "CONTACT_FORGOTTEN"


class OutboundClaimed(Event):
    """The gate was open: this message is to be sent, once. It carries what the sender
    needs; the recipient is named by hash and resolved in the vault at send time."""

    TYPE = "OutboundClaimed"

    outbound_id: EntityId
    kind: OutboundKind
    text: MessageText
    to_hash: ContactHash
    control_version: ControlVersion
    """The session's control version the gate saw open."""
    global_version: ControlVersion = 0
    """The kill switch's version the gate saw open: the proof, per message, that no
    automatic message was claimed after a PAUSE_ALL committed."""
    by: OperatorId | None = None
    """The operator, for kind OPERATOR."""
    sealed_text: SealedText | None = None
    """An operator's message as typed, sealed for the contact: what the sender sends.
    `text` is then the masked form operators and the LLM read."""


class OutboundSuppressed(Event):
    """A draft the gate did not let through, and why: the proof that a takeover or a
    pause won."""

    TYPE = "OutboundSuppressed"

    outbound_id: EntityId
    reason: SuppressionReason
    detail: Diagnostic | None = None


class OutboundSendStarted(Event):
    """Appended before the API is called. For an automatic message (REPLY,
    FLOOD_WARNING) the gate is checked again in the same transaction, so a takeover or
    a pause that committed after the claim still stops it; the versions it saw are
    recorded."""

    TYPE = "OutboundSendStarted"

    outbound_id: EntityId
    control_version: ControlVersion | None = None
    global_version: ControlVersion | None = None


class OutboundSent(Event):
    TYPE = "OutboundSent"

    outbound_id: EntityId
    wa_message_ref: WaMessageRef


class WhatsAppMessageLinked(Event):
    """Stream `wamessage-<wa_message_ref>`: which outbound WhatsApp's message id names,
    so that a delivery status finds its session."""

    TYPE = "WhatsAppMessageLinked"

    session_id: EntityId
    outbound_id: EntityId


class OutboundFailed(Event):
    """The API refused the message, or it was refused before calling the API (the 24-hour
    window closed). Definitive: nothing was delivered."""

    TYPE = "OutboundFailed"

    outbound_id: EntityId
    error_code: WhatsAppErrorCode | None = None
    reason: Diagnostic


class OutboundOutcomeUnknown(Event):
    """The send started but its result was never recorded: it may or may not have
    reached the customer. Left for an operator, never resent automatically."""

    TYPE = "OutboundOutcomeUnknown"

    outbound_id: EntityId
    reason: Diagnostic
