"""The `Responder` port: the LLM (or the offline rules) that drafts the bot's replies.

A responder reads a conversation and proposes: a reply, the intent it understood,
values for the lead's fields with a confidence each, and whether a human should take
the conversation. It proposes only. The domain decides what is applied (a weak
inference is recorded as rejected, not stored as fact) and the gate decides whether
the reply is sent: nothing a customer writes can make a responder change a control.

Every adapter passes `tests/contract/test_responder.py` unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Protocol

from pydantic import Field, StringConstraints

from contracts.envelope import Actor
from contracts.events.reply import TokenUsage
from contracts.frozen import Frozen
from contracts.vocabulary import (
    Confidence,
    Diagnostic,
    HandoffReason,
    Intent,
    LeadField,
    LeadStatus,
    MessageText,
    MessageType,
    SanitizedText,
    WaMessageRef,
)

FieldText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class Turn(Frozen):
    """One earlier message of the conversation, as an operator would read it."""

    actor: Actor
    text: SanitizedText


class Pending(Frozen):
    """A customer message the reply must answer (a burst may hold several)."""

    ref: WaMessageRef
    type: MessageType
    text: SanitizedText | None = None
    """`body_sanitized`: the text, a caption, or the title of the option chosen."""
    reply_id: Annotated[str, StringConstraints(max_length=256)] | None = None
    """The id of the button or list option chosen, for an interactive reply."""


class Conversation(Frozen):
    """What a responder may read: sanitised text only, never a phone number."""

    lead_status: LeadStatus
    collected: Mapping[LeadField, str] = {}
    """The lead's applied values."""
    history: tuple[Turn, ...] = ()
    """Earlier messages, oldest first, a bounded tail."""
    pending: Annotated[tuple[Pending, ...], Field(min_length=1)]
    """The messages to answer, oldest first."""


class FieldGuess(Frozen):
    """A value for one of the lead's fields, read from `evidence_ref`."""

    field: LeadField
    value: FieldText
    confidence: Confidence
    evidence_ref: WaMessageRef


class Handoff(Frozen):
    """The responder asks for a human: the lead becomes READY_FOR_HUMAN (a handoff,
    not a takeover: the bot may keep collecting until a human takes over)."""

    reason: HandoffReason
    detail: Diagnostic | None = None


class Draft(Frozen):
    text: MessageText
    intent: Intent | None = None
    fields: tuple[FieldGuess, ...] = ()
    handoff: Handoff | None = None
    tokens: TokenUsage | None = None


class ResponderFailed(Exception):
    """No usable draft: the endpoint is down, timed out, refused, or answered something
    that is not a draft. `attempts` calls were made."""

    def __init__(self, message: str, attempts: int = 1) -> None:
        super().__init__(message)
        self.attempts = attempts


class Responder(Protocol):
    @property
    def name(self) -> str:
        """`rules`, or `openai:<model>`: recorded on every draft."""
        ...

    def draft(self, conversation: Conversation) -> Draft:
        """A reply to `conversation.pending`. Raises `ResponderFailed`."""
        ...
