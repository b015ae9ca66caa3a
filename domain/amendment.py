"""Where a customer's deletion or edit of an earlier message belongs: on the session
whose log holds the original, which may have ended since."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.envelope import EventEnvelope
from contracts.events import LeadOpened, LeadSessionStarted, MessageReceived


def recent_sessions(lead_events: Sequence[EventEnvelope], at_most: int) -> list[str]:
    """The lead's latest `at_most` session ids, newest first."""
    started = [
        envelope.payload["session_id"]
        for envelope in lead_events
        if envelope.type in (LeadOpened.TYPE, LeadSessionStarted.TYPE)
    ]
    return [str(session_id) for session_id in reversed(started[-at_most:])]


def holds(session_events: Sequence[EventEnvelope], wa_message_ref: str) -> bool:
    """The session recorded the customer's message `wa_message_ref`."""
    return any(
        envelope.type == MessageReceived.TYPE
        and envelope.payload.get("wa_message_ref") == wa_message_ref
        for envelope in session_events
    )
