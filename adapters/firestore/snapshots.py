"""The `SnapshotStore` on Firestore.

    snapshot_meta/generations                       {projection: {active, building}}
    snapshots/{projection}-g{n}/{collection}/{id}   f: the top-level scalars, the id and
                                                    _changed_at (the commit's time)
                                                    json: every other field, as JSON text
    snapshots/{projection}-g{n}/_positions/{stream} version, state (JSON text)

No document in `snapshots` exists: each `{projection}-g{n}` only names the parent of one
generation's collections. The collection id is the logical name in every generation, so
composite indexes, which Firestore keys by collection id, are declared once and serve
every rebuild. Scalars are stored natively under `f` because queries filter and order on
them; the rest stays JSON text because a Firestore map cannot hold every JSON object
(an array in an array, an empty key: see docs/firestore.md). `f.id` repeats the
document id because the emulator cannot scan names backwards ("Firestore does not
support descending key scans"): ordering by id descending orders by `f.id`.

`commit` is one transaction: read the generations document, the position and the
documents it merges into, check, then write. Contention is retried only by the
client's transaction retry; a position found elsewhere raises `PositionMoved`.

Queries filter and order on `f.<field>`, then on the document name, and page with
`start_after` on the values of the last document. Production needs one composite index
(collection group `<collection>`, query scope collection) per query shape that combines
equality filters with an order on another field:

    f.<equal field> ASC [, f.<another equal field> ASC], f.<order field> ASC|DESC,
    __name__ ASC|DESC                       (ordering by id descending orders by f.id)

Single-field indexes serve the rest: filters and order on one field, ordering by id
alone, equality filters ordered by id ascending (Firestore merges their indexes).
`json` is never queried: exempt it from indexing. The emulator needs no index.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from itertools import count
from typing import Any

import structlog
from google.api_core.exceptions import (
    Aborted,
)
from google.cloud import firestore
from google.cloud.firestore_v1.base_document import DocumentSnapshot
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.collection import CollectionReference
from google.cloud.firestore_v1.document import DocumentReference

from adapters.firestore.transient import retrying
from adapters.snapshot_rules import (
    CHANGED_AT,
    FIELD,
    check_changes,
    check_count,
    check_counting,
    check_doc_id,
    check_document,
    check_name,
    check_query,
    decode_cursor,
    dumps,
    encode_cursor,
)
from contracts.ports.snapshots import (
    Change,
    Changes,
    Commit,
    Delete,
    Document,
    Listener,
    Page,
    Position,
    PositionMoved,
    Put,
    Where,
    Write,
)
from contracts.streams import check_stream_id

Generations = dict[str, tuple[int, int | None]]

log = structlog.get_logger(__name__)

_DELETE_BATCH = 500
_GET_BATCH = 300
_POSITIONS = "_positions"  # not a logical name: those start with a letter
_READY_S = 30.0


# Every Firestore call here may be retried (`retrying`): a commit whose reply was lost
# is settled by `commit` itself.


class FirestoreSnapshotStore:
    def __init__(self, client: firestore.Client, owners: Mapping[str, str]) -> None:
        self._client = client
        self._owners = {c: p for c, p in owners.items() if check_name(c) and check_name(p)}
        self._meta = client.collection("snapshot_meta").document("generations")
        self._root = client.collection("snapshots")
        self._watcher = _Watcher(self._meta, self._owners, self._collection)

    # -- projecting --------------------------------------------------------------

    def position(self, projection: str, generation: int, stream_id: str) -> Position | None:
        ref = self._positions(projection, generation).document(check_stream_id(stream_id))
        snapshot = retrying(ref.get)
        return _position(snapshot.to_dict()) if snapshot.exists else None

    def commit(
        self,
        projection: str,
        generation: int,
        stream_id: str,
        expected: int,
        position: Position,
        writes: Sequence[Write],
    ) -> None:
        self.commit_many(projection, generation, [Commit(stream_id, expected, position, writes)])

    def commit_many(self, projection: str, generation: int, commits: Sequence[Commit]) -> None:
        check_count([write for commit in commits for write in commit.writes], len(commits))
        positions = self._positions(projection, generation)
        prepared = []
        for commit in commits:
            if commit.expected < 0:
                raise ValueError(f"expected must be >= 0, not {commit.expected}")
            ref = positions.document(check_stream_id(commit.stream_id))
            stored = {"version": commit.position.version, "state": dumps(commit.position.state)}
            prepared.append((commit, ref, stored))
        staged = [
            self._stage(projection, generation, write)
            for commit in commits
            for write in commit.writes
        ]
        merged = {
            ref.path: ref for ref, write, _ in staged if isinstance(write, Put) and write.merge
        }

        def run(transaction: firestore.Transaction) -> None:
            reads = [self._meta, *(ref for _, ref, _ in prepared), *merged.values()]
            found = {s.reference.path: s for s in transaction.get_all(reads)}
            active, building = _generations(found[self._meta.path]).get(projection, (1, None))
            if generation not in (active, building):
                raise ValueError(
                    f"generation {generation} of {projection!r} is neither active ({active}) "
                    f"nor being rebuilt ({building}); read generations() again"
                )
            for commit, ref, _ in prepared:
                at = _position(found[ref.path].to_dict()).version
                if at != commit.expected:
                    raise PositionMoved(
                        f"{projection!r} (generation {generation}) is at version {at} of "
                        f"{commit.stream_id!r}, not {commit.expected}"
                    )
            documents = {path: _decode(found[path]) for path in merged}
            refs: dict[str, DocumentReference] = {}
            for ref, write, data in staged:  # in order; each document is written once
                if data is not None and isinstance(write, Put) and write.merge:
                    data = {**(documents.get(ref.path) or {}), **data}
                documents[ref.path], refs[ref.path] = data, ref
            for path, ref in refs.items():
                data = documents[path]
                if data is None:
                    transaction.delete(ref)
                else:
                    transaction.set(ref, _encode(ref.id, data))
            for _, ref, stored in prepared:
                transaction.set(ref, stored)

        tries = 0

        def attempt() -> None:
            nonlocal tries
            tries += 1
            firestore.transactional(run)(self._client.transaction())

        try:
            retrying(attempt)
        except ValueError as error:
            if not isinstance(error.__cause__, Aborted):
                raise
            # every try lost to concurrent commits on the same documents: for the caller
            # it is as if another commit moved the position first, so it reads again
            raise PositionMoved(f"contention: {error}") from error
        except PositionMoved:
            # An earlier try whose reply was lost may have committed: the positions are ours.
            if tries > 1 and all(
                self.position(projection, generation, commit.stream_id) == commit.position
                for commit in commits
            ):
                return
            raise

    def positions(
        self, projection: str, generation: int, stream_ids: Sequence[str]
    ) -> dict[str, Position]:
        collection = self._positions(projection, generation)
        refs = [collection.document(check_stream_id(stream_id)) for stream_id in stream_ids]
        found: dict[str, Position] = {}
        for start in range(0, len(refs), _GET_BATCH):
            for snapshot in retrying(partial(self._get_all, refs[start : start + _GET_BATCH])):
                if snapshot.exists:
                    found[snapshot.id] = _position(snapshot.to_dict())
        return found

    def _get_all(self, refs: list[DocumentReference]) -> list[DocumentSnapshot[Any]]:
        return list(self._client.get_all(refs))

    # -- generations -------------------------------------------------------------

    def generations(self) -> Mapping[str, tuple[int, int | None]]:
        stored = _generations(retrying(self._meta.get))
        return {**{p: (1, None) for p in self._owners.values()}, **stored}

    def begin_rebuild(self, projection: str) -> int:
        """A rebuild already under way is abandoned: its generation is dropped with the
        other old ones when a newer one is activated."""
        self._check_projection(projection)

        def run(transaction: firestore.Transaction) -> int:
            snapshot = next(iter(transaction.get_all([self._meta])))
            active, building = _generations(snapshot).get(projection, (1, None))
            new = max(active, building or 0) + 1
            transaction.set(
                self._meta, {projection: {"active": active, "building": new}}, merge=True
            )
            return new

        new: int = retrying(lambda: firestore.transactional(run)(self._client.transaction()))
        return new

    def activate(self, projection: str, generation: int) -> None:
        """Flip the generations document in one transaction, then delete every older
        generation, `_DELETE_BATCH` documents per batch. Activating the active
        generation again flips nothing and finishes a cleanup that was interrupted."""
        self._check_projection(projection)

        def run(transaction: firestore.Transaction) -> None:
            snapshot = next(iter(transaction.get_all([self._meta])))
            active, building = _generations(snapshot).get(projection, (1, None))
            if generation == active:
                return
            if generation != building:
                raise ValueError(
                    f"generation {generation} of {projection!r} is not being rebuilt "
                    f"(active {active}, rebuilding {building}); begin_rebuild first"
                )
            update = {projection: {"active": generation, "building": None}}
            transaction.set(self._meta, update, merge=True)

        retrying(lambda: firestore.transactional(run)(self._client.transaction()))
        prefix = f"{projection}-g"
        for parent in retrying(lambda: list(self._root.list_documents())):
            number = parent.id.removeprefix(prefix)
            if parent.id.startswith(prefix) and number.isdigit() and int(number) < generation:
                for collection in retrying(partial(_subcollections, parent)):
                    self._drop(collection)

    # -- reading -----------------------------------------------------------------

    def get(self, collection: str, doc_id: str) -> Document | None:
        ref = self._active(collection).document(check_doc_id(doc_id))
        snapshot = retrying(ref.get)
        data = _decode(snapshot)
        return None if data is None else {**data, "id": doc_id}

    def query(
        self,
        collection: str,
        where: Sequence[Where] = (),
        order_by: str = "id",
        descending: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        check_query(where, order_by, limit)
        after = decode_cursor(cursor, order_by)
        direction = firestore.Query.DESCENDING if descending else firestore.Query.ASCENDING
        query: Any = self._active(collection)
        for w in where:
            query = query.where(filter=FieldFilter(f"f.{w.field}", w.op, w.value))
        backwards_by_id = order_by == "id" and descending
        if order_by != "id" or backwards_by_id:
            query = query.order_by(f"f.{order_by}", direction=direction)
        query = query.order_by("__name__", direction=direction)
        if after is not None:
            query = query.start_after([after[0], *after] if backwards_by_id else after)
        snapshots = retrying(lambda: list(query.limit(limit + 1).stream()))
        documents = [{**(_decode(s) or {}), "id": s.id} for s in snapshots[:limit]]
        more = len(snapshots) > limit
        return Page(documents, encode_cursor(order_by, documents[-1]) if more else None)

    def count(self, collection: str, where: Sequence[Where] = ()) -> int:
        """An aggregation query: billed one read per 1,000 index entries it scans; with
        an equality and a range on another field, the composite index of the pair."""
        check_counting(where)
        query: Any = self._active(collection)
        for w in where:
            query = query.where(filter=FieldFilter(f"f.{w.field}", w.op, w.value))
        counted = retrying(query.count().get)
        return int(counted[0][0].value)

    def changes(
        self,
        collection: str,
        since: str,
        where: Sequence[Where] = (),
        limit: int = 50,
        cursor: str | None = None,
    ) -> Changes:
        """Ordered by `f._changed_at`, the commit's server timestamp; with equality
        filters, production needs a composite index (`f.<field> ASC, f._changed_at
        ASC, __name__ ASC`)."""
        check_changes(where, since, limit)
        after = decode_cursor(cursor, CHANGED_AT)
        stamp = f"f.{CHANGED_AT}"
        query: Any = self._active(collection)
        for w in where:
            query = query.where(filter=FieldFilter(f"f.{w.field}", w.op, w.value))
        query = query.where(filter=FieldFilter(stamp, ">=", datetime.fromisoformat(since)))
        query = query.order_by(stamp).order_by("__name__")
        if after is not None:
            query = query.start_after([datetime.fromisoformat(after[0]), after[1]])
        snapshots = retrying(lambda: list(query.limit(limit + 1).stream()))
        found = [
            Change(_stamp_text(s.to_dict()["f"][CHANGED_AT]), {**(_decode(s) or {}), "id": s.id})
            for s in snapshots[:limit]
        ]
        more = len(snapshots) > limit
        last = {CHANGED_AT: found[-1].at, "id": found[-1].document["id"]} if more else None
        return Changes(found, None if last is None else encode_cursor(CHANGED_AT, last))

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Called from Firestore's watch threads when documents of a collection's
        active generation change, in this process or another one, and for every
        collection of a projection when its active generation changes. Returns once
        the watches are live. The first listener of a store starts one watch per
        collection, which reads the whole collection once."""
        return self._watcher.add(listener)

    def close(self) -> None:
        self._watcher.stop()
        close = getattr(self._client, "close", None)
        if callable(close):
            close()

    # -- helpers -----------------------------------------------------------------

    def _stage(
        self, projection: str, generation: int, write: Write
    ) -> tuple[DocumentReference, Write, Document | None]:
        owner = self._projection(write.collection)
        if owner != projection:
            raise ValueError(
                f"collection {write.collection!r} belongs to {owner!r}, not {projection!r}"
            )
        ref = self._collection(write.collection, generation).document(check_doc_id(write.doc_id))
        if isinstance(write, Delete):
            return ref, write, None
        return ref, write, check_document(write.doc_id, write.data)

    def _drop(self, collection: CollectionReference) -> None:
        keys = collection.select([]).limit(_DELETE_BATCH)
        while snapshots := retrying(lambda: list(keys.stream())):
            batch = self._client.batch()
            for snapshot in snapshots:
                batch.delete(snapshot.reference)
            retrying(batch.commit)

    def _collection(self, collection: str, generation: int) -> CollectionReference:
        """Where `generation` of the logical `collection` lives."""
        parent = self._root.document(f"{self._projection(collection)}-g{generation}")
        found: CollectionReference = parent.collection(collection)
        return found

    def _active(self, collection: str) -> CollectionReference:
        """The active generation of `collection`, read afresh: one more small read, and
        no reader is left behind a switch made by another process."""
        projection = self._projection(collection)
        generation = _generations(retrying(self._meta.get)).get(projection, (1, None))[0]
        return self._collection(collection, generation)

    def _positions(self, projection: str, generation: int) -> CollectionReference:
        self._check_projection(projection)
        parent = self._root.document(f"{projection}-g{generation}")
        found: CollectionReference = parent.collection(_POSITIONS)
        return found

    def _projection(self, collection: str) -> str:
        try:
            return self._owners[collection]
        except KeyError:
            raise ValueError(f"unknown collection {collection!r}: not in owners") from None

    def _check_projection(self, projection: str) -> None:
        if projection not in self._owners.values():
            raise ValueError(f"unknown projection {projection!r}: it owns no collection")


def _subcollections(parent: DocumentReference) -> list[CollectionReference]:
    return list(parent.collections())


class _Watcher:
    """The watches behind `listen`: one on the generations document and one on the
    active generation of every collection, moved when that changes. Started by the
    first listener, stopped by `close`. Watches are never stopped while `_lock` is held:
    stopping one joins its thread, which may be waiting for the lock."""

    def __init__(
        self,
        meta: DocumentReference,
        owners: Mapping[str, str],
        collection: Callable[[str, int], CollectionReference],
    ) -> None:
        self._meta = meta
        self._owners = owners
        self._collection = collection
        self._lock = threading.Lock()
        self._listeners: dict[int, Listener] = {}
        self._ids = count()
        self._running = False
        self._meta_watch: Any = None
        self._watches: dict[str, tuple[int, Any]] = {}
        self._ready = threading.Event()

    def add(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            key = next(self._ids)
            self._listeners[key] = listener
            start, self._running = not self._running, True
        if start:
            self._meta_watch = self._meta.on_snapshot(self._on_generations)
        if not self._ready.wait(_READY_S):
            raise TimeoutError(f"the Firestore watches were not live after {_READY_S} s")

        def stop() -> None:
            with self._lock:
                self._listeners.pop(key, None)

        return stop

    def stop(self) -> None:
        with self._lock:
            self._running = False
            watches = [watch for _, watch in self._watches.values()]
            self._watches = {}
            self._ready.clear()
        meta, self._meta_watch = self._meta_watch, None
        for watch in [meta, *watches]:
            if watch is not None:
                watch.unsubscribe()

    def _on_generations(self, snapshots: list[DocumentSnapshot[Any]], *_: object) -> None:
        active = _generations(snapshots[0]) if snapshots else {}
        started: list[threading.Event] = []
        retired: list[Any] = []
        with self._lock:
            if not self._running:
                return
            for collection, projection in self._owners.items():
                generation = active.get(projection, (1, None))[0]
                attached = self._watches.get(collection)
                if attached is not None and attached[0] == generation:
                    continue
                if attached is not None:
                    retired.append(attached[1])
                ready = threading.Event()
                callback = self._on_change(collection, ready, news=attached is not None)
                watch = self._collection(collection, generation).on_snapshot(callback)
                self._watches[collection] = (generation, watch)
                started.append(ready)
        for watch in retired:
            watch.unsubscribe()
        if not self._ready.is_set():
            for ready in started:
                ready.wait(_READY_S)
            self._ready.set()

    def _on_change(
        self, collection: str, ready: threading.Event, news: bool
    ) -> Callable[..., None]:
        """The callback of one collection's watch. Its first call is the collection as
        it is: news only when the watch replaces one on another generation."""

        def on_snapshot(_: object, changes: list[object], *__: object) -> None:
            first = not ready.is_set()
            ready.set()
            if (first and news) or (not first and changes):
                self._notify(collection)

        return on_snapshot

    def _notify(self, collection: str) -> None:
        with self._lock:
            listeners = list(self._listeners.values())
        for listener in listeners:
            try:
                listener(collection)
            except Exception:
                log.exception("snapshot listener failed", collection=collection)


def _generations(snapshot: DocumentSnapshot[Any]) -> Generations:
    data = snapshot.to_dict() if snapshot.exists else None
    return {p: (g["active"], g.get("building")) for p, g in (data or {}).items()}


def _position(data: dict[str, Any] | None) -> Position:
    if data is None:
        return Position(0)
    return Position(data["version"], json.loads(data["state"]))


def _encode(doc_id: str, data: Document) -> dict[str, Any]:
    """Scalars under simple names go to `f`, where queries find them; the rest is text.
    `f._changed_at` is the commit's time, as Firestore stamps it (`changes`)."""
    scalars = {k: v for k, v in data.items() if FIELD.fullmatch(k) and _is_scalar(v)}
    rest = {k: v for k, v in data.items() if k not in scalars}
    scalars = {**scalars, CHANGED_AT: firestore.SERVER_TIMESTAMP}
    return {"f": {**scalars, "id": doc_id}, **({"json": dumps(rest)} if rest else {})}


def _stamp_text(value: datetime) -> str:
    """A commit time as the port shows it: ISO 8601 in UTC, to the microsecond."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _decode(snapshot: DocumentSnapshot[Any]) -> Document | None:
    stored = snapshot.to_dict() if snapshot.exists else None
    if stored is None:
        return None
    scalars = {k: v for k, v in stored["f"].items() if k != CHANGED_AT}
    return {**json.loads(stored.get("json", "{}")), **scalars}


def _is_scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)
