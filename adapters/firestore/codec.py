"""How events are laid out in Firestore.

An event is the document `{stream_id}:{version:012d}` of the events collection, so one
stream is one contiguous, ordered range of document names: reading a stream or walking
every stream needs no composite index. Stream ids cannot contain ':', and ';' is the
next character, so `{stream_id};` bounds the range of exactly that stream.

The payload is stored as JSON text, not as a Firestore map: a map cannot hold every
JSON-ready dict (an array directly inside an array, an integer beyond 64 bits, an empty
key or a key such as `__x__` are refused), and the store must accept any payload the
other back ends accept. Text also decodes faster than a map.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from contracts.envelope import EventEnvelope, NewEvent
from contracts.ports.eventstore import EventIdConflict
from contracts.upcasting import upcast

Document = dict[str, Any]


def event_key(stream_id: str, version: int) -> str:
    """The name of the event document; zero-padded so names sort in version order."""
    return f"{stream_id}:{version:012d}"


def stream_end(stream_id: str) -> str:
    """The first document name after every event of `stream_id`."""
    return f"{stream_id};"


def event_id_key(event_id: str) -> str:
    """The name of an event id's index document. Event ids are free text (they may hold
    '/', or be '..'), which a document name may not, so the name is a digest."""
    return hashlib.sha256(event_id.encode()).hexdigest()


def check_unique(event_ids: Iterable[str]) -> None:
    """One commit cannot create a name twice; say so in the store's terms."""
    seen: set[str] = set()
    for event_id in event_ids:
        if event_id in seen:
            raise EventIdConflict(f"event id {event_id!r} appears twice in one commit")
        seen.add(event_id)


def check_expected_version(expected_version: int) -> None:
    """Versions start at 1; 0 is a new stream. Below that, no stream is ever there."""
    if expected_version < 0:
        raise ValueError("expected_version must be >= 0")


def to_documents(
    stream_id: str, events: Sequence[NewEvent], after_version: int, recorded_at: datetime
) -> list[Document]:
    """The documents recording `events` as the versions following `after_version`."""
    return [
        {
            "event_id": event.event_id,
            "stream_id": stream_id,
            "version": after_version + offset,
            "type": event.type,
            "schema_version": event.schema_version,
            "occurred_at": event.occurred_at,
            "recorded_at": recorded_at,
            "correlation_id": event.correlation_id,
            "causation_id": event.causation_id,
            "actor": event.actor.value,
            "payload": json.dumps(event.payload, ensure_ascii=False, separators=(",", ":")),
        }
        for offset, event in enumerate(events, start=1)
    ]


def to_envelope(document: Mapping[str, Any]) -> EventEnvelope:
    """The envelope of a stored event, its payload upcast to the current schema."""
    schema_version, payload = upcast(
        document["type"], document["schema_version"], json.loads(document["payload"])
    )
    return EventEnvelope(
        event_id=document["event_id"],
        stream_id=document["stream_id"],
        version=document["version"],
        type=document["type"],
        schema_version=schema_version,
        occurred_at=_plain(document["occurred_at"]),
        recorded_at=_plain(document["recorded_at"]),
        correlation_id=document["correlation_id"],
        causation_id=document["causation_id"],
        actor=document["actor"],
        payload=payload,
    )


def _plain(value: datetime) -> datetime:
    """A plain UTC datetime: Firestore hands back its own subclass, kept inside here."""
    utc = value.astimezone(UTC)
    return datetime.combine(utc.date(), utc.timetz())
