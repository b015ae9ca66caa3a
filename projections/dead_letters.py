"""`dead_letters/{id}`: webhook bodies that were signed but unreadable, kept sealed in
their `deadletter-*` stream. (Messages a worker gave up on are the bus's dead letters;
the read API lists both.)"""

from __future__ import annotations

from collections.abc import Sequence

from contracts.events import WebhookPayloadRejected
from contracts.ports.snapshots import Document, Put, Write
from contracts.streams import StreamKind, stream_kind
from projections.projection import Recorded, changed_at

DEAD_LETTERS = "dead_letters"


class DeadLettersProjection:
    name = "dead_letters"
    collections = (DEAD_LETTERS,)

    def handles(self, stream_id: str) -> bool:
        return stream_kind(stream_id) == StreamKind.DEADLETTER

    def fold(self, state: Document, events: Sequence[Recorded]) -> tuple[Document, list[Write]]:
        writes: list[Write] = []
        for recorded in events:
            envelope, event = recorded.envelope, recorded.event
            if not isinstance(event, WebhookPayloadRejected):
                continue
            document = {
                "source": "webhook",
                "stream_id": envelope.stream_id,
                "reason": event.reason,
                "body_sha256": event.body_sha256,
                "size_bytes": event.size_bytes,
                "received_at": envelope.recorded_at.isoformat(),
                "updated_at": changed_at(recorded),
            }
            writes.append(
                Put(DEAD_LETTERS, envelope.stream_id.removeprefix("deadletter-"), document)
            )
        return state, writes
