"""`messages/{session_id}/{seq}`: the append-only message log the operator console
shows, one entry per inbound message and per outbound claimed."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AwareDatetime, Field, model_validator

from contracts.content import InteractiveReply, Location, Media, Order, Reaction, ReplyContext
from contracts.envelope import Actor
from contracts.frozen import Frozen
from contracts.vocabulary import (
    Channel,
    Direction,
    EntityId,
    MessageStatus,
    MessageType,
    OperatorId,
    SanitizedText,
    WaMessageRef,
    WhatsAppErrorCode,
)


class StatusChange(Frozen):
    status: MessageStatus
    at: AwareDatetime
    error_code: WhatsAppErrorCode | None = None


class EarlierText(Frozen):
    """What an edited message said before an edit."""

    body_sanitized: SanitizedText | None = None
    replaced_at: AwareDatetime


class MessageLogEntry(Frozen):
    session_id: EntityId
    seq: Annotated[int, Field(ge=1)]
    """The session-stream version of the event that created the entry: stable across
    replays, so a rebuilt log has the same keys."""
    direction: Direction
    channel: Channel = Channel.WHATSAPP
    type: MessageType
    body_sanitized: SanitizedText | None = None
    actor: Actor
    sent_by: OperatorId | None = None
    """The operator, for a HUMAN outbound."""
    wa_message_ref: WaMessageRef | None = None
    """Absent for an outbound until WhatsApp accepts it."""
    outbound_id: EntityId | None = None
    status: MessageStatus
    status_history: tuple[StatusChange, ...] = ()
    media: Media | None = None
    location: Location | None = None
    reaction: Reaction | None = None
    interactive: InteractiveReply | None = None
    context: ReplyContext | None = None
    order: Order | None = None
    edits: tuple[EarlierText, ...] = ()
    """What the customer's edits replaced, oldest first; `body_sanitized` is the text
    as last edited."""
    deleted_at: AwareDatetime | None = None
    """When the customer deleted the message (WhatsApp's `revoke`)."""
    correlation_id: str
    created_at: AwareDatetime

    @model_validator(mode="after")
    def _actor_matches_direction(self) -> Self:
        if (self.direction is Direction.IN) != (self.actor is Actor.USER):
            raise ValueError("inbound messages are the USER's; outbound ones are not")
        return self
