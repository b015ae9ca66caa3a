"""The event store on Firestore (design and measurements: docs/firestore.md).

Firestore has no cheap global sequence, and a transaction that reads and writes a hot
document waits on locks. So versions are per stream, each version is its own document,
and a conflict is a `create` on a name that already exists: it fails in milliseconds
and takes no lock. Event ids get an index collection of their own so that a
redelivered input is recognised even after its stream moved on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from google.api_core.exceptions import (
    Conflict,
)
from google.cloud import firestore
from google.cloud.firestore_v1.base_document import DocumentSnapshot
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.batch import WriteBatch
from google.cloud.firestore_v1.document import DocumentReference
from google.cloud.firestore_v1.query import Query

from adapters.firestore.codec import (
    Document,
    check_expected_version,
    check_unique,
    event_id_key,
    event_key,
    stream_end,
    to_documents,
    to_envelope,
)
from adapters.firestore.transaction import StreamView
from adapters.firestore.transient import retrying
from contracts.envelope import EventEnvelope, NewEvent
from contracts.ports.eventstore import (
    Appended,
    Committed,
    ConcurrencyError,
    EventIdConflict,
    EventPage,
    StreamTransaction,
)
from contracts.streams import check_stream_id

T = TypeVar("T")


class Stale(Exception):
    """A stream the transaction read moved before the commit; run the function again."""


# AlreadyExists (a create on a taken name) and Aborted (a lost transaction) are Conflicts.
# Nothing else is a lost race: FailedPrecondition, say, is a database in Datastore mode.
_LOST_RACE = (Conflict, Stale)


# Every Firestore call here may be retried (`retrying`): every write is a `create`, so a
# repeat is refused, never doubled.


class FirestoreEventStore:
    """`EventStore` on Firestore: `events/{stream}:{version}` holds the events,
    `event_ids/{sha256(event_id)}` says where each event id is recorded."""

    def __init__(self, client: firestore.Client) -> None:
        self._client = client
        self._events = client.collection("events")
        self._event_ids = client.collection("event_ids")

    def append(self, stream_id: str, events: Sequence[NewEvent], expected_version: int) -> Appended:
        check_stream_id(stream_id)
        check_unique(event.event_id for event in events)
        if not events:
            raise ValueError("nothing to append")
        check_expected_version(expected_version)
        documents = to_documents(stream_id, events, expected_version, datetime.now(UTC))
        # Events are never deleted: if the previous version exists now, it exists at commit.
        if expected_version == 0 or self._exists(event_key(stream_id, expected_version)):
            try:
                retrying(lambda: self._commit([], documents))
            except _LOST_RACE:
                return self._settle(stream_id, events, expected_version)
            return Appended(stream_id, tuple(map(to_envelope, documents)), duplicate=False)
        return self._settle(stream_id, events, expected_version)

    def read(self, stream_id: str, from_version: int = 1) -> list[EventEnvelope]:
        query = self._stream(stream_id, max(from_version, 1)).order_by("__name__")
        return [to_envelope(document) for document in retrying(lambda: _documents(query))]

    def version(self, stream_id: str) -> int:
        # Versions have no gaps, so the count is the last one. (The emulator refuses the
        # descending key scan that would fetch the last document.)
        counting: Any = self._stream(stream_id, 1).count()  # annotated as a class, wrongly
        return int(retrying(counting.get)[0][0].value)

    def count(self) -> int:
        events: Any = self._events  # `count` is untyped in the client
        counting = events.count()  # an aggregation query: counted by Firestore, not here
        return int(retrying(counting.get)[0][0].value)

    def read_all(self, cursor: str | None = None, limit: int = 1000) -> EventPage:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        page = self._events.order_by("__name__").limit(limit)
        if cursor is not None:
            after = self._events.document(cursor)
            page = page.where(filter=FieldFilter("__name__", ">", after))
        snapshots = retrying(lambda: list(page.stream()))
        events = tuple(to_envelope(_data(snapshot)) for snapshot in snapshots)
        return EventPage(events, snapshots[-1].id if len(snapshots) == limit else None)

    def transact(self, fn: Callable[[StreamTransaction], T], attempts: int = 5) -> Committed[T]:
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {attempts}")
        for _ in range(attempts):
            view = StreamView(self)
            value = fn(view)
            if self._committed(view):
                return Committed(value, tuple(view.appended))
        raise self._moved(view)

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if callable(close):
            close()

    def _committed(self, view: StreamView) -> bool:
        """Commit what `view` staged; false when another writer won the race.

        A commit can land and its reply be lost (`DeadlineExceeded`); `_call` then tries
        again, and the repeat loses to the first: its creates find their names taken, or
        a stream it guards has moved on since. So a lost race is only lost if the staged
        documents are not there as we wrote them."""
        documents = view.documents()
        try:
            retrying(partial(self._commit, view.guards(), documents))
        except _LOST_RACE:
            return bool(documents) and self._landed(documents)
        return True

    def _landed(self, documents: list[Document]) -> bool:
        """Whether every event of `documents` is recorded at its staged name with its
        staged event id and record time: then it was this client's commit (a redelivery
        racing it would have recorded another time)."""
        refs = [self._events.document(event_key(d["stream_id"], d["version"])) for d in documents]
        stored = {s.id: s.to_dict() for s in retrying(lambda: list(self._client.get_all(refs)))}
        return all(
            (found := stored.get(ref.id)) is not None
            and (found["event_id"], found["recorded_at"]) == (d["event_id"], d["recorded_at"])
            for ref, d in zip(refs, documents, strict=True)
        )

    def _commit(self, guards: list[str], documents: list[Document]) -> None:
        """Create `documents` (events and their event id index entries) together, if
        none of the event names in `guards` exists at commit time. Without guards it is
        a plain batch: no reads, no locks."""
        if not guards:
            if not documents:
                return
            batch = self._client.batch()
            self._create(batch, documents)
            batch.commit()
            return

        def validate_then_create(transaction: firestore.Transaction) -> None:
            refs = [self._events.document(key) for key in guards]
            for snapshot in transaction.get_all(refs):
                if snapshot.exists:
                    raise Stale(snapshot.id)
            self._create(transaction, documents)

        try:
            firestore.transactional(validate_then_create)(self._client.transaction(max_attempts=1))
        except ValueError as error:  # how the client reports its last attempt aborted
            if isinstance(error.__cause__, Conflict):
                raise error.__cause__ from None
            raise

    def recorded(self, events: Sequence[NewEvent]) -> dict[str, tuple[str, int]]:
        """Where each already recorded event id of `events` is: stream and version."""
        refs = [self._event_ids.document(event_id_key(event.event_id)) for event in events]
        snapshots = retrying(lambda: list(self._client.get_all(refs)))
        found = (snapshot.to_dict() for snapshot in snapshots if snapshot.exists)
        return {d["event_id"]: (d["stream_id"], d["version"]) for d in found if d is not None}

    def duplicate(
        self, stream_id: str, events: Sequence[NewEvent], recorded: dict[str, tuple[str, int]]
    ) -> Appended:
        """The no-op append of `events` when every one is already in `stream_id`."""
        for event_id, (other, version) in recorded.items():
            if other != stream_id:
                raise EventIdConflict(
                    f"event id {event_id!r} is already recorded in {other!r} (version "
                    f"{version}), not in {stream_id!r}: event ids must be unique"
                )
        if len(recorded) < len(events):
            raise EventIdConflict(
                f"only {len(recorded)} of {len(events)} event ids are already in "
                f"{stream_id!r}: a redelivered input must derive the same events"
            )
        keys = [event_key(stream_id, recorded[event.event_id][1]) for event in events]
        refs = [self._events.document(key) for key in keys]
        by_key = {s.id: _data(s) for s in retrying(lambda: list(self._client.get_all(refs)))}
        return Appended(stream_id, tuple(to_envelope(by_key[key]) for key in keys), True)

    def _create(self, writer: WriteBatch, documents: list[Document]) -> None:
        for document in documents:
            key = event_key(document["stream_id"], document["version"])
            writer.create(self._events.document(key), document)
            writer.create(
                self._event_ids.document(event_id_key(document["event_id"])),
                {k: document[k] for k in ("event_id", "stream_id", "version")},
            )

    def _settle(self, stream_id: str, events: Sequence[NewEvent], expected: int) -> Appended:
        """Why an append could not write: a redelivery (a no-op), colliding event ids,
        or another writer got there first."""
        recorded = self.recorded(events)
        if recorded:
            return self.duplicate(stream_id, events, recorded)
        raise ConcurrencyError(stream_id, expected, self.version(stream_id))

    def _moved(self, view: StreamView) -> ConcurrencyError:
        """The error for a transaction that lost every attempt: the stream that moved."""
        for stream_id, head in view.heads.items():
            actual = self.version(stream_id)
            if actual != head:
                return ConcurrencyError(stream_id, head, actual)
        stream_id, head = next(iter(view.heads.items()), ("", 0))
        return ConcurrencyError(stream_id, head, None)

    def _exists(self, key: str) -> bool:
        return bool(retrying(lambda: self._events.document(key).get()).exists)

    def _stream(self, stream_id: str, from_version: int) -> Query:
        start = self._events.document(event_key(check_stream_id(stream_id), from_version))
        end = self._events.document(stream_end(stream_id))
        return self._events.where(filter=FieldFilter("__name__", ">=", start)).where(
            filter=FieldFilter("__name__", "<", end)
        )


def _documents(query: Query) -> list[Document]:
    return [_data(snapshot) for snapshot in query.stream()]


def _data(snapshot: DocumentSnapshot[DocumentReference]) -> Document:
    data = snapshot.to_dict()
    if data is None:
        raise LookupError(f"event {snapshot.id!r} vanished; events are never deleted")
    return data
