"""The responder's (LLM's) work on a session: a draft, or why there is none.

A draft is not a message: it becomes one only if its outbound is claimed while the
gate is open (see `contracts.events.outbound`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from contracts.envelope import Event
from contracts.frozen import Frozen
from contracts.vocabulary import (
    ControlVersion,
    Diagnostic,
    EntityId,
    Intent,
    MessageText,
    WaMessageRef,
)

ResponderName = Annotated[str, StringConstraints(min_length=1, max_length=200)]
"""`rules`, or `openai:<model>`."""

Milliseconds = Annotated[int, Field(ge=0)]


class TokenUsage(Frozen):
    prompt_tokens: Annotated[int, Field(ge=0)]
    completion_tokens: Annotated[int, Field(ge=0)]


class ReplyDrafted(Event):
    """A reply drafted under `control_version`: the gate sends it only while the
    session's control is still at that version, and only if no newer inbound message
    than those in `in_reply_to` arrived meanwhile."""

    TYPE = "ReplyDrafted"

    outbound_id: EntityId
    control_version: ControlVersion
    in_reply_to: Annotated[tuple[WaMessageRef, ...], Field(min_length=1)]
    text: MessageText
    intent: Intent | None = None
    responder: ResponderName
    latency_ms: Milliseconds
    tokens: TokenUsage | None = None


class ReplyDraftFailed(Event):
    """The responder gave no usable reply (down, timed out, malformed output): shown to
    operators, counted as an LLM failure."""

    TYPE = "ReplyDraftFailed"

    in_reply_to: Annotated[tuple[WaMessageRef, ...], Field(min_length=1)]
    responder: ResponderName
    error: Diagnostic
    attempts: Annotated[int, Field(ge=1)]
    latency_ms: Milliseconds
