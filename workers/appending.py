"""From a decision's `Emit`s to appends, and from appends to the `events` topic."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from contracts.envelope import EventEnvelope, NewEvent, derived_event_id
from contracts.ports.bus import Bus
from contracts.ports.eventstore import Appended, StreamTransaction
from contracts.topics import EVENTS_TOPIC
from domain.decision import Emit


@dataclass(frozen=True)
class Cause:
    """The input a decision answers: every event id derives from `input_id`."""

    input_id: str
    correlation_id: str
    causation_id: str | None = None

    def new_event(self, emit: Emit) -> NewEvent:
        return NewEvent.of(
            emit.event,
            event_id=derived_event_id(self.input_id, emit.name),
            occurred_at=emit.occurred_at,
            actor=emit.actor,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
        )


class Reader:
    """Reads streams in a transaction and remembers the version each was at, so that
    appends name it as their expected version."""

    def __init__(self, tx: StreamTransaction) -> None:
        self.tx = tx
        self.versions: dict[str, int] = {}

    def read(self, stream_id: str) -> list[EventEnvelope]:
        events = self.tx.read(stream_id)
        self.versions[stream_id] = events[-1].version if events else 0
        return events

    def append(self, emits: Sequence[Emit], cause: Cause) -> None:
        """Each stream's events in one append, in the order decided."""
        by_stream: dict[str, list[NewEvent]] = {}
        for emit in emits:
            by_stream.setdefault(emit.stream_id, []).append(cause.new_event(emit))
        for stream_id, events in by_stream.items():
            if stream_id not in self.versions:
                self.read(stream_id)
            self.tx.append(stream_id, events, self.versions[stream_id])
            self.versions[stream_id] += len(events)


def publish(bus: Bus, appended: Iterable[Appended]) -> None:
    """Publish what was appended (or recorded before, for a duplicate: a redelivered
    input publishes again what its first delivery may not have)."""
    envelopes = [envelope for each in appended for envelope in each.events]
    bus.publish(EVENTS_TOPIC, envelopes)
