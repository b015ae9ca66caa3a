"""A session's life: it starts on a contact's first message and ends closed by an
operator or expired after a quiet spell. Stream `session-<session_id>`."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, StringConstraints

from contracts.envelope import Event
from contracts.vocabulary import (
    ContactHash,
    EntityId,
    NoteText,
    OperatorId,
    Reason,
    SessionOutcome,
)


class SessionStarted(Event):
    """Control starts at `LLM_ACTIVE`, version 0."""

    TYPE = "SessionStarted"

    lead_id: EntityId
    from_hash: ContactHash
    business_number_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    """Meta's `phone_number_id` of the business line that was written to (an id, not a
    number): replies go out from the same line."""
    recent_cooldowns: tuple[AwareDatetime, ...] = ()
    """When the contact's cooldowns of the 24 hours before started, carried over from
    the previous session: a flood that repeats across sessions still doubles."""


class SessionClosed(Event):
    """An operator closed the session (CLOSE). The lead is closed alongside."""

    TYPE = "SessionClosed"

    outcome: SessionOutcome
    reason: Reason
    note: NoteText | None = None
    closed_by: OperatorId
    reopen_blocked_until: AwareDatetime | None = None
    """Until then a new message from the contact does not open a new session."""


class SessionExpired(Event):
    """No message either way for the inactivity TTL: the episode ends, the lead stays."""

    TYPE = "SessionExpired"

    last_activity_at: AwareDatetime


class NoteAdded(Event):
    """An operator's internal note (ADD_NOTE); never sent to the customer."""

    TYPE = "NoteAdded"

    text: NoteText
    by: OperatorId
