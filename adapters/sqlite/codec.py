"""Rows of the `events` table to envelopes and back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from contracts.envelope import Actor, EventEnvelope, NewEvent
from contracts.upcasting import upcast

COLUMNS = (
    "stream_id, version, event_id, type, schema_version, occurred_at, recorded_at, "
    "correlation_id, causation_id, actor, payload"
)

Row = tuple[str, int, str, str, int, str, str, str, str | None, str, str]

_ACTORS = {actor.value: actor for actor in Actor}
_ALL_FIELDS = frozenset(EventEnvelope.model_fields)
_set = object.__setattr__


def to_row(stream_id: str, version: int, event: NewEvent, recorded_at: datetime) -> Row:
    return (
        stream_id,
        version,
        event.event_id,
        event.type,
        event.schema_version,
        event.occurred_at.isoformat(),
        recorded_at.isoformat(),
        event.correlation_id,
        event.causation_id,
        event.actor.value,
        json.dumps(event.payload, ensure_ascii=False, separators=(",", ":")),
    )


def to_envelope(row: Row | tuple[Any, ...]) -> EventEnvelope:
    (stream_id, version, event_id, type_, schema_version, occurred_at, recorded_at,
     correlation_id, causation_id, actor, payload) = row  # fmt: skip
    schema_version, upcast_payload = upcast(type_, schema_version, json.loads(payload))
    return trusted_envelope({
        "event_id": event_id, "stream_id": stream_id, "version": version, "type": type_,
        "schema_version": schema_version, "occurred_at": _utc(occurred_at),
        "recorded_at": _utc(recorded_at), "correlation_id": correlation_id,
        "causation_id": causation_id, "actor": _ACTORS[actor], "payload": upcast_payload,
    })  # fmt: skip


def _utc(text: str) -> datetime:
    """What `UtcDatetime` makes of a stored time. Rows written before envelopes held
    UTC may carry another offset; UTC ones come back as they are, at no cost."""
    return datetime.fromisoformat(text).astimezone(UTC)


def recorded(stream_id: str, version: int, event: NewEvent, recorded_at: datetime) -> EventEnvelope:
    """The envelope of an event just written, built from what we wrote rather than by
    decoding it again."""
    schema_version, payload = upcast(event.type, event.schema_version, event.payload)
    return trusted_envelope({
        "event_id": event.event_id, "stream_id": stream_id, "version": version,
        "type": event.type, "schema_version": schema_version,
        "occurred_at": event.occurred_at, "recorded_at": recorded_at,
        "correlation_id": event.correlation_id, "causation_id": event.causation_id,
        "actor": event.actor, "payload": payload,
    })  # fmt: skip


def trusted_envelope(fields: dict[str, Any]) -> EventEnvelope:
    """An envelope from values that were validated on their way into our own table.

    This is what `BaseModel.model_construct` ends with, without its per-field loop:
    reading is the replay hot path, and this halves its cost. `tests/integration/
    test_sqlite_codec.py` checks the result equals pydantic's own construction."""
    envelope = EventEnvelope.__new__(EventEnvelope)
    _set(envelope, "__dict__", fields)
    _set(envelope, "__pydantic_fields_set__", _ALL_FIELDS)
    _set(envelope, "__pydantic_extra__", None)
    _set(envelope, "__pydantic_private__", None)
    return envelope
