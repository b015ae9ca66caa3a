"""The embedded `SnapshotStore`: three tables in the event store's SQLite file.

    snapshot_docs(collection, generation, doc_id, data)      data: the JSON object, no id,
                                                             with its `_changed_at` stamp
    snapshot_positions(projection, generation, stream_id, version, state)
    snapshot_generations(projection, active, building)      no row: generation 1 active

`commit` is one write transaction through the file's shared writer (`database.py`:
concurrent projectors, and the event store and the bus of the process, share its
fsyncs): check the generation is live and the position is where the caller
expects, apply the writes, store the position. Reads use their own connections (WAL
readers never wait for the writer) and resolve the active generation in the same
statement as the read, so a read sees one generation, never a mix.

Queries: the primary key makes one collection's generation a contiguous range of the
table, in id order, so ordering by id seeks to the cursor and reads one page. A field
that a query filters or orders by gets an expression index the first time one does
(Firestore indexes every field; SQLite can use an index on `json_extract` only if it
has one): (collection, generation, kind of value, value, id) over the documents where
the field is a scalar. A query with an equality filter and an order on another field
gets an index of the pair too (the equality's field, then the order field's kind and
value), as Firestore needs a composite index for it: it walks that index, so a page
costs about its own size however many documents match the equality (further equality
filters are checked along the walk). Else the first equality filter's index drives a
query, else the order field's. On 10,000 sessions, a page of 50 of the inbox, whatever
its filters and sort: about 2 ms, most of it decoding the documents (55 ms for `closed
== false` by `updated_at` when the matches were sorted instead).

Values order as on Firestore, whatever their type: null < booleans < numbers <
strings. A filter matches values of its own type only; ordering by a field leaves out
documents where it is missing or not a scalar.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import count
from pathlib import Path
from typing import Any

import structlog

from adapters.snapshot_rules import (
    CHANGED_AT,
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
from adapters.sqlite.database import Readers, open_writer
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

log = structlog.get_logger(__name__)

_DELETE_BATCH = 1000
_IN_BATCH = 500
_ACTIVE = "coalesce((SELECT active FROM snapshot_generations WHERE projection = ?), 1)"


class SqliteSnapshotStore:
    def __init__(self, path: str | Path, owners: Mapping[str, str]) -> None:
        self._owners = {c: p for c, p in owners.items() if check_name(c) and check_name(p)}
        self._writer = open_writer(path)
        self._readers = Readers(path)
        with self._readers.connection() as reader:
            indexes = reader.execute("SELECT name FROM sqlite_schema WHERE type = 'index'")
            self._indexed = {_indexed_fields(name) for (name,) in indexes} - {None}
        self._listeners: dict[int, Listener] = {}
        self._listener_ids = count()
        self._listeners_lock = threading.Lock()
        self._stamps = CommitStamps()

    # -- projecting --------------------------------------------------------------

    def position(self, projection: str, generation: int, stream_id: str) -> Position | None:
        self._check_projection(projection)
        with self._readers.connection() as reader:
            row = reader.execute(
                "SELECT version, state FROM snapshot_positions "
                "WHERE projection = ? AND generation = ? AND stream_id = ?",
                (projection, generation, check_stream_id(stream_id)),
            ).fetchone()
        return None if row is None else Position(row[0], json.loads(row[1]))

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
        self._check_projection(projection)
        check_count([write for commit in commits for write in commit.writes], len(commits))
        prepared = []
        for commit in commits:
            check_stream_id(commit.stream_id)
            if commit.expected < 0:
                raise ValueError(f"expected must be >= 0, not {commit.expected}")
            encoded = [self._encode(projection, write) for write in commit.writes]
            prepared.append((commit, encoded, dumps(commit.position.state)))

        def run(connection: sqlite3.Connection) -> bool:
            active, building = _generation(connection, projection)
            if generation not in (active, building):
                raise ValueError(
                    f"generation {generation} of {projection!r} is neither active ({active}) "
                    f"nor being rebuilt ({building}); read generations() again"
                )
            at = _stored_positions(connection, projection, generation, prepared)
            for commit, _, _ in prepared:
                if at.get(commit.stream_id, 0) != commit.expected:
                    raise PositionMoved(
                        f"{projection!r} (generation {generation}) is at version "
                        f"{at.get(commit.stream_id, 0)} of {commit.stream_id!r}, "
                        f"not {commit.expected}"
                    )
            writes = [w for _, e, _ in prepared for w in e]
            _write_documents(connection, generation, writes, self._stamps)
            connection.executemany(
                "INSERT INTO snapshot_positions VALUES (?, ?, ?, ?, ?) ON CONFLICT DO "
                "UPDATE SET version = excluded.version, state = excluded.state",
                [
                    (projection, generation, commit.stream_id, commit.position.version, state)
                    for commit, _, state in prepared
                ],
            )
            return generation == active

        if self._writer.run(run):
            written = (write.collection for commit in commits for write in commit.writes)
            self._notify(dict.fromkeys(written))

    def positions(
        self, projection: str, generation: int, stream_ids: Sequence[str]
    ) -> dict[str, Position]:
        found: dict[str, Position] = {}
        with self._readers.connection() as reader:
            for start in range(0, len(stream_ids), _IN_BATCH):
                batch = [check_stream_id(s) for s in stream_ids[start : start + _IN_BATCH]]
                marks = ",".join("?" * len(batch))
                rows = reader.execute(
                    "SELECT stream_id, version, state FROM snapshot_positions WHERE "
                    f"projection = ? AND generation = ? AND stream_id IN ({marks})",
                    (projection, generation, *batch),
                )
                for stream_id, version, state in rows:
                    found[stream_id] = Position(version, json.loads(state))
        return found

    # -- generations -------------------------------------------------------------

    def generations(self) -> Mapping[str, tuple[int, int | None]]:
        with self._readers.connection() as reader:
            rows = reader.execute("SELECT projection, active, building FROM snapshot_generations")
            stored = {projection: (active, building) for projection, active, building in rows}
        return {**{p: (1, None) for p in self._owners.values()}, **stored}

    def begin_rebuild(self, projection: str) -> int:
        """A rebuild already under way is abandoned: its generation is dropped with the
        other old ones when a newer one is activated."""
        self._check_projection(projection)

        def run(connection: sqlite3.Connection) -> int:
            active, building = _generation(connection, projection)
            new = max(active, building or 0) + 1
            _set_generation(connection, projection, active, new)
            return new

        return self._writer.run(run)

    def activate(self, projection: str, generation: int) -> None:
        """Switch in one transaction, then drop every older generation in batches of
        `_DELETE_BATCH` rows, each a transaction of its own so writers are not held up.
        Activating the active generation again switches nothing and finishes a cleanup
        that was interrupted."""
        self._check_projection(projection)

        def switch(connection: sqlite3.Connection) -> bool:
            active, building = _generation(connection, projection)
            if generation == active:
                return False
            if generation != building:
                raise ValueError(
                    f"generation {generation} of {projection!r} is not being rebuilt "
                    f"(active {active}, rebuilding {building}); begin_rebuild first"
                )
            _set_generation(connection, projection, generation, None)
            return True

        if self._writer.run(switch):
            self._notify(self._collections(projection))
        for collection in self._collections(projection):
            self._drop_before("snapshot_docs", "collection", "doc_id", collection, generation)
        self._drop_before("snapshot_positions", "projection", "stream_id", projection, generation)

    # -- reading -----------------------------------------------------------------

    def get(self, collection: str, doc_id: str) -> Document | None:
        projection = self._projection(collection)
        with self._readers.connection() as reader:
            row = reader.execute(
                "SELECT data FROM snapshot_docs "
                f"WHERE collection = ? AND generation = {_ACTIVE} AND doc_id = ?",
                (collection, projection, check_doc_id(doc_id)),
            ).fetchone()
        return None if row is None else _document(doc_id, row[0])

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
        rows = self._rows(collection, where, order_by, descending, limit, cursor)
        documents = [_document(doc_id, data) for doc_id, data in rows[:limit]]
        more = len(rows) > limit
        return Page(documents, encode_cursor(order_by, documents[-1]) if more else None)

    def count(self, collection: str, where: Sequence[Where] = ()) -> int:
        """Counts the entries of the index a query ordered by the range's field would
        walk: the cost of the matches, not of the collection."""
        ranged = check_counting(where)
        projection = self._projection(collection)
        wanted = {(w.field,) for w in where} | ({(ranged,)} - {("id",)})
        self._index(wanted | ({pair} if (pair := _pair(where, ranged)) else set()))
        [(sql, params)] = _segments(where, ranged, False, None)[:1]
        counting = f"SELECT count(*) FROM ({sql})"
        with self._readers.connection() as reader:
            (found,) = reader.execute(counting, [collection, projection, *params, -1]).fetchone()
        return int(found)

    def changes(
        self,
        collection: str,
        since: str,
        where: Sequence[Where] = (),
        limit: int = 50,
        cursor: str | None = None,
    ) -> Changes:
        check_changes(where, since, limit)
        after = [*where, Where(CHANGED_AT, ">=", since)]
        rows = self._rows(collection, after, CHANGED_AT, False, limit, cursor)
        found = []
        for doc_id, data in rows[:limit]:
            document = {**json.loads(data), "id": doc_id}
            found.append(Change(document.pop(CHANGED_AT), document))
        more = len(rows) > limit
        last = {CHANGED_AT: found[-1].at, "id": found[-1].document["id"]} if more else None
        return Changes(found, None if last is None else encode_cursor(CHANGED_AT, last))

    def _rows(
        self,
        collection: str,
        where: Sequence[Where],
        order_by: str,
        descending: bool,
        limit: int,
        cursor: str | None,
    ) -> list[tuple[str, str]]:
        """Up to `limit + 1` rows (id, data) of a checked query."""
        projection = self._projection(collection)
        after = decode_cursor(cursor, order_by)
        wanted = {(w.field,) for w in where} | ({(order_by,)} - {("id",)})
        self._index(wanted | ({pair} if (pair := _pair(where, order_by)) else set()))
        rows: list[tuple[str, str]] = []
        with self._readers.connection() as reader:
            reader.execute("BEGIN")  # one snapshot for every segment
            try:
                for sql, params in _segments(where, order_by, descending, after):
                    bound = [collection, projection, *params, limit + 1 - len(rows)]
                    rows += reader.execute(sql, bound).fetchall()
                    if len(rows) > limit:
                        break
            finally:
                reader.execute("COMMIT")
        return rows

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Called in the committing thread, after the commit is durable, for each
        collection whose active generation it wrote (and for every collection of a
        projection when `activate` switches it)."""
        with self._listeners_lock:
            key = next(self._listener_ids)
            self._listeners[key] = listener

        def stop() -> None:
            with self._listeners_lock:
                self._listeners.pop(key, None)

        return stop

    def close(self) -> None:
        self._readers.close()
        self._writer.close()

    # -- helpers -----------------------------------------------------------------

    def _index(self, keys: set[tuple[str, ...]]) -> None:
        """Index the fields a query uses, and the pair of its equality filter and its
        order field, the first time one does (a write, and on a large file a pause of
        writers while SQLite builds it)."""
        for fields in sorted(keys - self._indexed):
            self._writer.run(partial(_create_index, fields))
            self._indexed.add(fields)

    def _notify(self, collections: Iterable[str]) -> None:
        with self._listeners_lock:
            listeners = list(self._listeners.values())
        for collection in collections:
            for listener in listeners:
                try:
                    listener(collection)
                except Exception:
                    log.exception("snapshot listener failed", collection=collection)

    def _drop_before(self, table: str, owner: str, key: str, name: str, generation: int) -> None:
        batch = (
            f"DELETE FROM {table} WHERE ({owner}, generation, {key}) IN ("
            f"SELECT {owner}, generation, {key} FROM {table} "
            f"WHERE {owner} = ? AND generation < ? LIMIT {_DELETE_BATCH})"
        )
        while self._writer.run(lambda c: c.execute(batch, (name, generation)).rowcount):
            pass

    def _encode(self, projection: str, write: Write) -> tuple[Write, Document | None]:
        if self._projection(write.collection) != projection:
            raise ValueError(
                f"collection {write.collection!r} belongs to {self._owners[write.collection]!r}"
                f", not {projection!r}"
            )
        check_doc_id(write.doc_id)
        if isinstance(write, Delete):
            return write, None
        return write, check_document(write.doc_id, write.data)

    def _projection(self, collection: str) -> str:
        try:
            return self._owners[collection]
        except KeyError:
            raise ValueError(f"unknown collection {collection!r}: not in owners") from None

    def _check_projection(self, projection: str) -> None:
        if projection not in self._owners.values():
            raise ValueError(f"unknown projection {projection!r}: it owns no collection")

    def _collections(self, projection: str) -> list[str]:
        return [c for c, p in self._owners.items() if p == projection]


def _generation(connection: sqlite3.Connection, projection: str) -> tuple[int, int | None]:
    row = connection.execute(
        "SELECT active, building FROM snapshot_generations WHERE projection = ?", (projection,)
    ).fetchone()
    return (1, None) if row is None else (row[0], row[1])


def _set_generation(
    connection: sqlite3.Connection, projection: str, active: int, building: int | None
) -> None:
    connection.execute(
        "INSERT INTO snapshot_generations VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET "
        "active = excluded.active, building = excluded.building",
        (projection, active, building),
    )


def _stored_positions(
    connection: sqlite3.Connection,
    projection: str,
    generation: int,
    prepared: Sequence[tuple[Commit, object, str]],
) -> dict[str, int]:
    """The stored version of each stream the commits name, in as few reads as can be."""
    streams = [commit.stream_id for commit, _, _ in prepared]
    found: dict[str, int] = {}
    for start in range(0, len(streams), _IN_BATCH):
        batch = streams[start : start + _IN_BATCH]
        rows = connection.execute(
            "SELECT stream_id, version FROM snapshot_positions WHERE projection = ? AND "
            f"generation = ? AND stream_id IN ({','.join('?' * len(batch))})",
            (projection, generation, *batch),
        )
        found.update(rows)
    return found


def _document(doc_id: str, data: str) -> Document:
    """A stored document as the port shows it: with its id, without its stamp."""
    document = json.loads(data)
    document.pop(CHANGED_AT, None)
    return {**document, "id": doc_id}


class CommitStamps:
    """Change stamps in commit order: the time, or just after the last stamp given, in
    the writer's transaction (so a document committed later is never stamped earlier
    than one already visible, which live readers page by)."""

    def __init__(self) -> None:
        self._last = datetime.min.replace(tzinfo=UTC)

    def next(self) -> str:
        now = datetime.now(UTC)
        self._last = now if now > self._last else self._last + timedelta(microseconds=1)
        return self._last.isoformat(timespec="microseconds")


def _write_documents(
    connection: sqlite3.Connection,
    generation: int,
    writes: Sequence[tuple[Write, Document | None]],
    stamps: CommitStamps,
) -> None:
    """Each document written once, as the writes leave it in order, stamped with the
    commit: merges read the stored document first (all of them in one read per
    collection)."""
    merged = {(w.collection, w.doc_id) for w, _ in writes if isinstance(w, Put) and w.merge}
    stored = _stored_documents(connection, generation, merged)
    final: dict[tuple[str, str], Document | None] = {}
    for write, data in writes:
        key = (write.collection, write.doc_id)
        if data is not None and isinstance(write, Put) and write.merge:
            before = final[key] if key in final else stored.get(key)
            data = {**(before or {}), **data}
        final[key] = data
    deleted = [(c, generation, d) for (c, d), data in final.items() if data is None]
    if deleted:
        connection.executemany(
            "DELETE FROM snapshot_docs WHERE collection = ? AND generation = ? AND doc_id = ?",
            deleted,
        )
    connection.executemany(
        "INSERT INTO snapshot_docs VALUES (?, ?, ?, ?) "
        "ON CONFLICT DO UPDATE SET data = excluded.data",
        [
            (c, generation, d, dumps(_stamped(data, stamps)))
            for (c, d), data in final.items()
            if data is not None
        ],
    )


def _stamped(data: Document, stamps: CommitStamps) -> Document:
    return {**data, CHANGED_AT: stamps.next()}


def _stored_documents(
    connection: sqlite3.Connection, generation: int, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], Document]:
    by_collection: dict[str, list[str]] = {}
    for collection, doc_id in keys:
        by_collection.setdefault(collection, []).append(doc_id)
    found: dict[tuple[str, str], Document] = {}
    for collection, doc_ids in by_collection.items():
        for start in range(0, len(doc_ids), _IN_BATCH):
            batch = doc_ids[start : start + _IN_BATCH]
            rows = connection.execute(
                "SELECT doc_id, data FROM snapshot_docs WHERE collection = ? AND generation = ? "
                f"AND doc_id IN ({','.join('?' * len(batch))})",
                (collection, generation, *batch),
            )
            found.update(((collection, doc_id), json.loads(data)) for doc_id, data in rows)
    return found


# -- queries ---------------------------------------------------------------------


def _kind(value: object) -> int:
    """The rank of a value's type in the order of values: null, bool, number, string."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return 1
    return 2 if isinstance(value, int | float) else 3


def _kind_sql(field: str) -> str:
    return (
        f"CASE json_type(data, '$.{field}') WHEN 'null' THEN 0 WHEN 'false' THEN 1 "
        "WHEN 'true' THEN 1 WHEN 'integer' THEN 2 WHEN 'real' THEN 2 WHEN 'text' THEN 3 END"
    )


def _value_sql(field: str) -> str:
    """Never NULL for a scalar (null compares as 0 within its kind), so that row values
    compare."""
    return f"ifnull(json_extract(data, '$.{field}'), 0)"


def _index_name(*fields: str) -> str:
    """Hex, because SQLite names are case-insensitive and fields are not; versioned,
    because a query names its index and must find the expressions it uses."""
    return f"snapshot_docs_v1_by_{'_then_'.join(field.encode().hex() for field in fields)}"


def _indexed_fields(name: str) -> tuple[str, ...] | None:
    """The fields of an index `_index_name` named, or None for another index."""
    prefix = "snapshot_docs_v1_by_"
    if not name.startswith(prefix):
        return None
    return tuple(bytes.fromhex(part).decode() for part in name[len(prefix) :].split("_then_"))


def _index_sql(fields: tuple[str, ...]) -> str:
    """An index of one field's values in every collection, like Firestore's automatic
    single-field index: (collection, generation, kind, value, id), where scalar; or of
    two, like a composite index: an equality filter's field, then the order field."""
    keys = ", ".join(f"{_kind_sql(field)}, {_value_sql(field)}" for field in fields)
    scalar = " AND ".join(f"{_kind_sql(field)} IS NOT NULL" for field in fields)
    return (
        f"CREATE INDEX IF NOT EXISTS {_index_name(*fields)} ON snapshot_docs "
        f"(collection, generation, {keys}, doc_id) WHERE {scalar}"
    )


def _create_index(fields: tuple[str, ...], connection: sqlite3.Connection) -> None:
    connection.execute(_index_sql(fields))


def _pair(where: Sequence[Where], order_by: str) -> tuple[str, str] | None:
    """The composite index a query walks: its first equality filter's field, then the
    field it is ordered by (so a page costs its size, not the equality's matches)."""
    equal = next((w.field for w in where if w.op == "=="), None)
    if equal is None or order_by in ("id", equal):
        return None
    return equal, order_by


Segment = tuple[str, list[Any]]


def _segments(
    where: Sequence[Where], order_by: str, descending: bool, after: list[Any] | None
) -> list[Segment]:
    """The statements of one page, run in turn until the page is full.

    Field names are checked against `FIELD`, so they are safe in the SQL text, where
    they must be for the expressions to match their index's. The first equality filter's
    index drives the query (its cost grows with its matches, not with the collection),
    else the order field's, else the primary key. A cursor on a field seeks within the
    kind of its value, then goes on through the next kinds: SQLite cannot seek an
    expression index with a row value that spans the kind."""
    bigger, direction = ("<", " DESC") if descending else (">", "")
    conditions, params = ["collection = ?", f"generation = {_ACTIVE}"], []
    for w in where:
        conditions.append(f"{_kind_sql(w.field)} = {_kind(w.value)}")
        # a null's value is 0 (`_value_sql`): saying so fixes the index's prefix
        conditions.append(f"{_value_sql(w.field)} {'=' if w.op == '==' else w.op} ?")
        params.append(0 if w.value is None else w.value)
    equal = next((w.field for w in where if w.op == "=="), None)
    pair = _pair(where, order_by)
    index = _index_name(*pair) if pair else _index_name(equal) if equal else None
    source = "snapshot_docs" + (f" INDEXED BY {index}" if index else "")

    def segment(more: list[str], more_params: list[Any], keys: list[str]) -> Segment:
        order = ", ".join(key + direction for key in keys)
        sql = f"SELECT doc_id, data FROM {source} WHERE {' AND '.join(conditions + more)}"
        return f"{sql} ORDER BY {order} LIMIT ?", params + more_params

    if order_by == "id":
        return [segment([f"doc_id {bigger} ?"] if after else [], after or [], ["doc_id"])]
    kind, value = _kind_sql(order_by), _value_sql(order_by)
    # A filter on the order field fixes its kind; naming the kind in ORDER BY then makes
    # SQLite sort instead of walking the index.
    one_kind = any(w.field == order_by for w in where)
    if after is None:
        if one_kind:
            return [segment([], [], [value, "doc_id"])]
        return [segment([f"{kind} IS NOT NULL"], [], [kind, value, "doc_id"])]
    at, after_kind = (0 if after[0] is None else after[0]), _kind(after[0])
    same_kind = [
        f"{kind} = {after_kind}",
        f"{value} {bigger}= ?",
        f"({value}, doc_id) {bigger} (?, ?)",
    ]
    within = segment(same_kind, [at, at, after[1]], [value, "doc_id"])
    if one_kind:
        return [within]
    return [within, segment([f"{kind} {bigger} {after_kind}"], [], [kind, value, "doc_id"])]
