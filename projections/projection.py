"""What a projection is: a fold of some streams into documents.

A projection keeps, per stream, a small state (stored with its position, in the same
commit as the documents it writes), so that applying the next events needs neither the
documents it wrote before nor the stream's earlier events. It folds a run of a
stream's events at once (one live event, or a page of them in a rebuild) and writes
each document it changed once, at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from contracts.envelope import Event, EventEnvelope
from contracts.ports.snapshots import Document, Put, Write


@dataclass(frozen=True)
class Recorded:
    """An event as recorded, its payload parsed once for every projection."""

    envelope: EventEnvelope
    event: Event


def parsed(envelopes: Iterable[EventEnvelope]) -> list[Recorded]:
    return [Recorded(envelope, envelope.event()) for envelope in envelopes]


class Projection(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def collections(self) -> tuple[str, ...]:
        """The logical collections it owns (and rebuilds)."""
        ...

    def handles(self, stream_id: str) -> bool: ...

    def fold(self, state: Document, events: Sequence[Recorded]) -> tuple[Document, list[Write]]:
        """The stream's state after `events` (consecutive versions of one stream) and
        the writes that bring its documents up to date, one per document. `state` is
        `{}` before the stream's first event. Every field written derives from the
        events (an `updated_at` is `recorded_at` of the last event that changed the
        document: see `changed_at`), so a rebuild writes what the live projector wrote,
        however the events are split into folds."""
        ...


def changed_at(recorded: Recorded) -> str:
    """An `updated_at`: when the event that changed the document was recorded."""
    return recorded.envelope.recorded_at.isoformat(timespec="microseconds")


def squash(writes: Sequence[Write]) -> list[Write]:
    """One write per document: a later whole-document write makes earlier ones moot,
    merges merge. For projections that write as they go."""
    kept: dict[tuple[str, str], Write] = {}
    for write in writes:
        key = (write.collection, write.doc_id)
        earlier = kept.pop(key, None)
        if isinstance(write, Put) and write.merge and isinstance(earlier, Put):
            write = Put(write.collection, write.doc_id, {**earlier.data, **write.data},
                        merge=earlier.merge)  # fmt: skip
        kept[key] = write
    return list(kept.values())
