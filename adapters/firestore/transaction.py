"""The view a transaction function gets on Firestore: optimistic, validated at commit.

Reads take no locks; each remembers the head version it saw. The commit then checks,
inside one short Firestore transaction, that no stream moved past what was seen: a
stream that was read must still lack its next version, and a stream appended to gets
its next versions by `create`, which fails if someone else took them. A transaction
that reads the kill switch therefore never commits on a stale read, yet never holds a
lock while the caller decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from adapters.firestore.codec import (
    Document,
    check_expected_version,
    check_unique,
    event_key,
    to_documents,
    to_envelope,
)
from contracts.envelope import EventEnvelope, NewEvent
from contracts.ports.eventstore import Appended, ConcurrencyError
from contracts.streams import check_stream_id

if TYPE_CHECKING:
    from adapters.firestore.eventstore import FirestoreEventStore


class StreamView:
    """The `StreamTransaction` of one attempt."""

    def __init__(self, store: FirestoreEventStore) -> None:
        self._store = store
        self.heads: dict[str, int] = {}  # the last version seen of every stream touched
        self.appended: list[Appended] = []
        self._read: dict[str, list[EventEnvelope]] = {}
        self._staged: dict[str, list[Document]] = {}

    def read(self, stream_id: str) -> list[EventEnvelope]:
        if stream_id not in self._read:
            events = self._read[stream_id] = self._store.read(stream_id)
            # If an append already fetched an older head, its creates fail at commit.
            self.heads.setdefault(stream_id, events[-1].version if events else 0)
        staged = [to_envelope(document) for document in self._staged.get(stream_id, [])]
        return self._read[stream_id] + staged

    def append(self, stream_id: str, events: Sequence[NewEvent], expected_version: int) -> None:
        check_stream_id(stream_id)
        if not events:
            raise ValueError("nothing to append")
        check_expected_version(expected_version)
        staged_ids = (document["event_id"] for document in self.documents())
        check_unique([*staged_ids, *(event.event_id for event in events)])
        recorded = self._store.recorded(events)
        if recorded:
            self.appended.append(self._store.duplicate(stream_id, events, recorded))
            return
        staged = self._staged.setdefault(stream_id, [])
        head = self._head(stream_id) + len(staged)
        if expected_version != head:
            raise ConcurrencyError(stream_id, expected_version, head)
        documents = to_documents(stream_id, events, head, datetime.now(UTC))
        staged.extend(documents)
        self.appended.append(Appended(stream_id, tuple(map(to_envelope, documents)), False))

    def guards(self) -> list[str]:
        """The next version of every stream seen but not appended to: none may exist
        when the transaction commits."""
        return [event_key(s, head + 1) for s, head in self.heads.items() if not self._staged.get(s)]

    def documents(self) -> list[Document]:
        return [document for staged in self._staged.values() for document in staged]

    def _head(self, stream_id: str) -> int:
        if stream_id not in self.heads:
            self.heads[stream_id] = self._store.version(stream_id)
        return self.heads[stream_id]
