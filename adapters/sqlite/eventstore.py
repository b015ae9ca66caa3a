"""The embedded `EventStore`: one SQLite file, durable on every acknowledged append."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from adapters.sqlite.codec import COLUMNS, Row, recorded, to_envelope, to_row
from adapters.sqlite.database import Readers, open_writer
from contracts.envelope import EventEnvelope, NewEvent
from contracts.ports.eventstore import (
    Appended,
    Committed,
    ConcurrencyError,
    EventIdConflict,
    EventPage,
)
from contracts.streams import check_stream_id

T = TypeVar("T")


class SqliteEventStore:
    """Writes go through the file's shared writer (`database.py`), so that they share
    transactions and fsyncs with the bus's and the snapshot store's in this process."""

    def __init__(self, path: str | Path) -> None:
        self._writer = open_writer(path)
        self._readers = Readers(path)

    # -- writing -----------------------------------------------------------------

    def append(self, stream_id: str, events: Sequence[NewEvent], expected_version: int) -> Appended:
        check_stream_id(stream_id)
        return self._writer.run(
            lambda connection: _append(connection, stream_id, events, expected_version)
        )

    def transact(self, fn: Callable[[_Transaction], T], attempts: int = 5) -> Committed[T]:
        """SQLite has one writer at a time, so `fn` runs inside the write transaction
        and always sees the latest state: it never needs a second attempt. `attempts`
        is there because the port has it (Firestore validates at commit and may run `fn`
        again); it is checked like there, and otherwise unused."""
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {attempts}")

        def run(connection: sqlite3.Connection) -> Committed[T]:
            transaction = _Transaction(connection)
            value = fn(transaction)
            return Committed(value, tuple(transaction.appended))

        return self._writer.run(run)

    # -- reading -----------------------------------------------------------------

    def read(self, stream_id: str, from_version: int = 1) -> list[EventEnvelope]:
        with self._readers.connection() as reader:
            return _read_stream(reader, check_stream_id(stream_id), from_version)

    def version(self, stream_id: str) -> int:
        with self._readers.connection() as reader:
            return _version(reader, check_stream_id(stream_id))

    def count(self) -> int:
        with self._readers.connection() as reader:
            return int(reader.execute("SELECT count(*) FROM events").fetchone()[0])

    def read_all(self, cursor: str | None = None, limit: int = 1000) -> EventPage:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        after_stream, after_version = json.loads(cursor) if cursor else ("", 0)
        with self._readers.connection() as reader:
            rows = reader.execute(
                f"SELECT {COLUMNS} FROM events WHERE (stream_id, version) > (?, ?) "
                "ORDER BY stream_id, version LIMIT ?",
                (after_stream, after_version, limit),
            ).fetchall()
        events = tuple(map(to_envelope, rows))
        next_cursor = json.dumps([rows[-1][0], rows[-1][1]]) if len(rows) == limit else None
        return EventPage(events, next_cursor)

    def close(self) -> None:
        self._readers.close()
        self._writer.close()


class _Transaction:
    """The `StreamTransaction` of the SQLite store: reads and appends on the writer
    connection, inside the group's transaction."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self.appended: list[Appended] = []

    def read(self, stream_id: str) -> list[EventEnvelope]:
        return _read_stream(self._connection, check_stream_id(stream_id), 1)

    def append(self, stream_id: str, events: Sequence[NewEvent], expected_version: int) -> None:
        check_stream_id(stream_id)
        self.appended.append(_append(self._connection, stream_id, events, expected_version))


def _read_stream(
    connection: sqlite3.Connection, stream_id: str, from_version: int
) -> list[EventEnvelope]:
    rows = connection.execute(
        f"SELECT {COLUMNS} FROM events WHERE stream_id = ? AND version >= ? ORDER BY version",
        (stream_id, from_version),
    ).fetchall()
    return list(map(to_envelope, rows))


def _version(connection: sqlite3.Connection, stream_id: str) -> int:
    row = connection.execute(
        "SELECT max(version) FROM events WHERE stream_id = ?", (stream_id,)
    ).fetchone()
    return int(row[0] or 0)


def _append(
    connection: sqlite3.Connection,
    stream_id: str,
    events: Sequence[NewEvent],
    expected_version: int,
) -> Appended:
    """Insert optimistically: the primary key and the unique event id catch every
    conflict, and only then do we look at why (a duplicate or a concurrent writer)."""
    if not events:
        raise ValueError("nothing to append")
    if expected_version < 0:
        raise ValueError("expected_version must be >= 0")
    if expected_version and _version(connection, stream_id) < expected_version:
        return _explain_conflict(connection, stream_id, events, expected_version)
    recorded_at = datetime.now(UTC)
    rows = [
        to_row(stream_id, expected_version + offset, event, recorded_at)
        for offset, event in enumerate(events, start=1)
    ]
    try:
        _insert(connection, rows)
    except sqlite3.IntegrityError:
        return _explain_conflict(connection, stream_id, events, expected_version)
    envelopes = tuple(
        recorded(stream_id, expected_version + offset, event, recorded_at)
        for offset, event in enumerate(events, start=1)
    )
    return Appended(stream_id, envelopes, duplicate=False)


_ROWS_PER_STATEMENT = 2000  # 11 columns each, well under SQLite's variable limit


def _insert(connection: sqlite3.Connection, rows: list[Row]) -> None:
    """One INSERT statement is atomic: on a constraint failure SQLite undoes all of it.
    Larger batches span statements and need a savepoint to stay all or nothing."""
    if len(rows) <= _ROWS_PER_STATEMENT:
        values = ",".join(["(?,?,?,?,?,?,?,?,?,?,?)"] * len(rows))
        connection.execute(
            f"INSERT INTO events ({COLUMNS}) VALUES {values}",
            [field for row in rows for field in row],
        )
        return
    connection.execute("SAVEPOINT insert_rows")
    try:
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            _insert(connection, rows[start : start + _ROWS_PER_STATEMENT])
    except BaseException:
        connection.execute("ROLLBACK TO insert_rows")
        raise
    finally:
        connection.execute("RELEASE insert_rows")


def _explain_conflict(
    connection: sqlite3.Connection,
    stream_id: str,
    events: Sequence[NewEvent],
    expected_version: int,
) -> Appended:
    """The append could not go in as asked: it is either a duplicate (a no-op), an id
    collision, or the stream is not at the expected version."""
    event_ids = [event.event_id for event in events]
    placeholders = ",".join("?" * len(event_ids))
    recorded: list[Row] = connection.execute(
        f"SELECT {COLUMNS} FROM events WHERE event_id IN ({placeholders}) ORDER BY version",
        event_ids,
    ).fetchall()
    if (
        recorded
        and len(recorded) == len(set(event_ids)) == len(event_ids)
        and all(row[0] == stream_id for row in recorded)
    ):
        return Appended(stream_id, tuple(map(to_envelope, recorded)), duplicate=True)
    if recorded or len(set(event_ids)) < len(event_ids):
        raise EventIdConflict(
            f"{len(recorded)} of {len(events)} event ids are already recorded "
            f"(in {sorted({row[0] for row in recorded})}) or repeat within the batch; "
            "deterministic ids must not collide"
        )
    raise ConcurrencyError(stream_id, expected_version, _version(connection, stream_id))
