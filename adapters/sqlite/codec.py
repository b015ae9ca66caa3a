"""Rows of the `events` table to envelopes and back."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from contracts.envelope import Actor, EventEnvelope, NewEvent
from contracts.upcasting import upcast

COLUMNS = (
    "stream_id, version, event_id, type, schema_version, occurred_at, recorded_at, "
    "correlation_id, causation_id, actor, payload"
)

Row = tuple[str, int, str, str, int, str, str, str, str | None, str, str]


def to_row(stream_id: str, version: int, event: NewEvent, recorded_at: str) -> Row:
    return (
        stream_id,
        version,
        event.event_id,
        event.type,
        event.schema_version,
        event.occurred_at.isoformat(),
        recorded_at,
        event.correlation_id,
        event.causation_id,
        event.actor.value,
        json.dumps(event.payload, ensure_ascii=False, separators=(",", ":")),
    )


def to_envelope(row: Row | tuple[Any, ...]) -> EventEnvelope:
    """Rows come from our own table, already validated on the way in, so the envelope is
    built without validating again: reading is the replay hot path."""
    (
        stream_id,
        version,
        event_id,
        type_,
        schema_version,
        occurred_at,
        recorded_at,
        correlation_id,
        causation_id,
        actor,
        payload,
    ) = row
    schema_version, upcast_payload = upcast(type_, schema_version, json.loads(payload))
    return EventEnvelope.model_construct(
        event_id=event_id,
        stream_id=stream_id,
        version=version,
        type=type_,
        schema_version=schema_version,
        occurred_at=datetime.fromisoformat(occurred_at),
        recorded_at=datetime.fromisoformat(recorded_at),
        correlation_id=correlation_id,
        causation_id=causation_id,
        actor=Actor(actor),
        payload=upcast_payload,
    )
