"""`sessions/{session_id}` and `session_controls/{session_id}`: a conversation episode
and who may speak in it. Kept apart because the control changes under compare-and-set
and is read by every gate, while the session changes with every message."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AwareDatetime, Field, model_validator

from contracts.envelope import Actor
from contracts.frozen import Frozen
from contracts.vocabulary import (
    ContactHash,
    ControlVersion,
    EntityId,
    FloodLevel,
    NoteText,
    OperatorId,
    Reason,
    SessionMode,
    SessionOutcome,
    SessionStatus,
)

Count = Annotated[int, Field(ge=0)]
PreviewText = Annotated[str, Field(max_length=200)]

WAITING_END = 2**60
OPEN_END = 2**61
CLOSED_END = 2**62
"""A session document's `wait_rank`, the inbox's sort key, ascending: the waiting
sessions first, ranked by the time they wait since (in µs from 1970, about 1.8e15
today: below `WAITING_END`); then the open ones nobody waits in, `OPEN_END` minus their
last activity in µs (the latest active first); then the closed ones, `CLOSED_END` minus
it. So "open" is `wait_rank < OPEN_END`, a range the store answers on the index it
sorts by."""


class SessionState(Frozen):
    session_id: EntityId
    lead_id: EntityId
    from_hash: ContactHash
    state: SessionStatus
    cooldown_until: AwareDatetime | None = None
    flood_level: FloodLevel | None = None
    outcome: SessionOutcome | None = None
    closing_note: NoteText | None = None
    reopen_blocked_until: AwareDatetime | None = None
    started_at: AwareDatetime
    closed_at: AwareDatetime | None = None
    last_inbound_at: AwareDatetime | None = None
    last_outbound_at: AwareDatetime | None = None
    window_expires_at: AwareDatetime | None = None
    """End of WhatsApp's 24-hour customer window (last inbound + 24 h): after it, no
    free-form message can be sent."""
    inbound_count: Count = 0
    outbound_count: Count = 0
    waiting_since: AwareDatetime | None = None
    """When the customer's first message no human has answered yet was sent; None when
    nobody waits. The bot's replies do not stop it (`projections/inbox.py`)."""
    unread_count: Count = 0
    """The customer's messages since a human last answered."""
    last_message_at: AwareDatetime | None = None
    last_message_actor: Actor | None = None
    last_message_preview: PreviewText | None = None
    """The last message's `body_sanitized`, clipped; `[image]` etc. for what is not
    text; `[deleted]` when the customer deleted it."""

    @model_validator(mode="after")
    def _a_cooldown_has_an_end(self) -> Self:
        if self.state is SessionStatus.COOLDOWN_ACTIVE and self.cooldown_until is None:
            raise ValueError("a session in COOLDOWN_ACTIVE says until when (cooldown_until)")
        return self


class SessionControl(Frozen):
    """Starts at `LLM_ACTIVE`, version 0; each change bumps `version`."""

    session_id: EntityId
    mode: SessionMode = SessionMode.LLM_ACTIVE
    human_assignee: OperatorId | None = None
    reason: Reason | None = None
    updated_at: AwareDatetime | None = None
    version: ControlVersion = 0
