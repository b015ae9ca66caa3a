"""`sessions/{session_id}` and `session_controls/{session_id}`: a conversation episode
and who may speak in it. Kept apart because the control changes under compare-and-set
and is read by every gate, while the session changes with every message."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AwareDatetime, Field, model_validator

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
