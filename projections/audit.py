"""The audit views: `decision_audit/{session_id}:{version}` (what the bot drafted, what
the gate suppressed and why, every control change, flood, note and close) and
`lead_events/{lead_id}:{version}` (every change of a lead, applied or rejected field
values with their evidence, handoffs, reveals). Each entry is the event itself, as
recorded: audit means nothing is summarised away."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.envelope import EventEnvelope
from contracts.events import (
    ControlChanged,
    CooldownEnded,
    CooldownEscalated,
    CooldownStarted,
    FloodDetected,
    NoteAdded,
    OutboundOutcomeUnknown,
    OutboundSuppressed,
    ReplyDrafted,
    ReplyDraftFailed,
    SessionClosed,
    SessionExpired,
)
from contracts.ports.snapshots import Document, Put, Write
from contracts.streams import StreamKind, stream_kind
from projections.projection import Recorded

DECISIONS = "decision_audit"
LEAD_EVENTS = "lead_events"

DECISION_TYPES = frozenset(
    event.TYPE
    for event in (
        ReplyDrafted, ReplyDraftFailed, OutboundSuppressed, OutboundOutcomeUnknown,
        ControlChanged, FloodDetected, CooldownStarted, CooldownEscalated, CooldownEnded,
        SessionClosed, SessionExpired, NoteAdded,
    )
)  # fmt: skip


def audit_id(owner_id: str, version: int) -> str:
    return f"{owner_id}:{version:08d}"


class AuditProjection:
    name = "audit"
    collections = (DECISIONS, LEAD_EVENTS)

    def handles(self, stream_id: str) -> bool:
        return stream_kind(stream_id) in (StreamKind.SESSION, StreamKind.LEAD)

    def fold(self, state: Document, events: Sequence[Recorded]) -> tuple[Document, list[Write]]:
        return state, [write for r in events if (write := _entry(r.envelope)) is not None]


def _entry(envelope: EventEnvelope) -> Put | None:
    kind = stream_kind(envelope.stream_id)
    if kind == StreamKind.SESSION and envelope.type not in DECISION_TYPES:
        return None
    owner_id = envelope.stream_id.split("-", 1)[1]
    owner = "session_id" if kind == StreamKind.SESSION else "lead_id"
    entry = {
        owner: owner_id,
        "version": envelope.version,
        "type": envelope.type,
        "actor": envelope.actor.value,
        "occurred_at": envelope.occurred_at.isoformat(),
        "correlation_id": envelope.correlation_id,
        "payload": envelope.payload,  # as recorded (and upcast): JSON already
        "updated_at": envelope.recorded_at.isoformat(timespec="microseconds"),
    }
    collection = DECISIONS if kind == StreamKind.SESSION else LEAD_EVENTS
    return Put(collection, audit_id(owner_id, envelope.version), entry)
