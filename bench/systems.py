"""The systems `bench/eventstore.py` compares, each behind one small interface: our
stores through the port, the `eventsourcing` library's recorder, and raw `sqlite3`."""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteDatastore,
)

from adapters.sqlite.codec import COLUMNS, to_row
from adapters.sqlite.connection import connect, create_schema
from adapters.sqlite.eventstore import SqliteEventStore
from bench.workload import Call
from contracts.ports.eventstore import EventStore

ROOT = Path(__file__).resolve().parent.parent
PAGE = 1000  # events per page when reading everything back
SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


class System(Protocol):
    name: str

    def durability(self) -> str:
        """The durability the system actually runs at, read from the database."""
        ...

    def appender(self, calls: Sequence[Call]) -> Callable[[], None]:
        """Turn `calls` into the system's own input (not timed) and return the timed part.
        Each appender may run on its own thread."""
        ...

    def read_all(self) -> int:
        """Read every recorded event back; return how many there were."""
        ...

    def close(self) -> None: ...


def _sqlite_durability(cursor: sqlite3.Cursor) -> str:
    mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
    synchronous = cursor.execute("PRAGMA synchronous").fetchone()[0]
    return f"journal_mode={str(mode).upper()}, synchronous={SYNCHRONOUS[synchronous]}"


class PortSystem:
    """Our stores, driven through the `EventStore` port."""

    def __init__(
        self,
        name: str,
        store: EventStore,
        durability: str,
        after_close: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._store = store
        self._durability = durability
        self._after_close = after_close

    def durability(self) -> str:
        return self._durability

    def appender(self, calls: Sequence[Call]) -> Callable[[], None]:
        store = self._store

        def run() -> None:
            for call in calls:
                store.append(call.stream, call.events, call.after_version)

        return run

    def read_all(self) -> int:
        count, cursor = 0, None
        while True:
            page = self._store.read_all(cursor, PAGE)
            count += len(page.events)
            cursor = page.cursor
            if cursor is None:
                return count

    def close(self) -> None:
        self._store.close()
        if self._after_close is not None:
            self._after_close()


def switchboard_sqlite(path: Path) -> System:
    store = SqliteEventStore(path)
    probe = connect(path)  # the store's writer is opened by this same function
    try:
        durability = _sqlite_durability(probe.cursor())
    finally:
        probe.close()
    return PortSystem("switchboard-sqlite", store, durability)


class _FullSyncPool(SQLiteConnectionPool):
    """eventsourcing turns WAL on but has no setting for `synchronous`: it keeps the
    SQLite build's default for WAL (FULL here, NORMAL on some builds). Pin FULL."""

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous=FULL")
        return connection


class EventsourcingSqlite:
    """The library's `SQLiteApplicationRecorder` (what `PERSISTENCE_MODULE=
    eventsourcing.sqlite` gives an Application), called directly so that only the
    store is measured, not aggregates or the mapper."""

    name = "eventsourcing-sqlite"

    def __init__(self, path: Path) -> None:
        self._datastore = SQLiteDatastore(str(path))
        self._datastore.pool.close()
        self._datastore.pool = _FullSyncPool(db_name=str(path))
        self._recorder = SQLiteApplicationRecorder(self._datastore)
        self._recorder.create_table()
        self._default = _default_synchronous(path)

    def durability(self) -> str:
        with (
            self._datastore.get_connection(commit=False) as connection,
            connection.cursor() as cursor,
        ):
            return f"{_sqlite_durability(cursor)} (pinned; its default here: {self._default})"

    def appender(self, calls: Sequence[Call]) -> Callable[[], None]:
        batches = [
            [
                StoredEvent(
                    originator_id=uuid.uuid5(uuid.NAMESPACE_URL, call.stream),
                    originator_version=call.after_version + offset,
                    topic=f"switchboard.events:{event.type}",
                    state=event.model_dump_json().encode(),
                )
                for offset, event in enumerate(call.events, start=1)
            ]
            for call in calls
        ]
        recorder = self._recorder

        def run() -> None:
            for batch in batches:
                recorder.insert_events(batch)

        return run

    def read_all(self) -> int:
        count, start = 0, 1
        while True:
            notifications = self._recorder.select_notifications(start, PAGE)
            count += len(notifications)
            if len(notifications) < PAGE:
                return count
            start = notifications[-1].id + 1

    def close(self) -> None:
        self._datastore.close()


def _default_synchronous(path: Path) -> str:
    """What a connection to the (WAL) file gets when nobody sets `synchronous`."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return SYNCHRONOUS[connection.execute("PRAGMA synchronous").fetchone()[0]]
    finally:
        connection.close()


class RawSqlite:
    """Plain `sqlite3`: our table, one transaction per call, rows encoded in advance.
    Every appender opens its own connection, as separate writers would."""

    name = "sqlite3"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._connections: list[sqlite3.Connection] = []
        create_schema(self._connect())

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        self._connections.append(connection)
        return connection

    def durability(self) -> str:
        return _sqlite_durability(self._connections[0].cursor())

    def appender(self, calls: Sequence[Call]) -> Callable[[], None]:
        connection = self._connect()
        recorded_at = datetime.now(UTC)
        batches = [
            [
                to_row(call.stream, call.after_version + offset, event, recorded_at)
                for offset, event in enumerate(call.events, start=1)
            ]
            for call in calls
        ]
        insert = f"INSERT INTO events ({COLUMNS}) VALUES ({','.join('?' * 11)})"

        def run() -> None:
            for rows in batches:
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany(insert, rows)
                connection.execute("COMMIT")

        return run

    def read_all(self) -> int:
        query = f"SELECT {COLUMNS} FROM events ORDER BY stream_id, version"
        return len(self._connections[0].execute(query).fetchall())

    def close(self) -> None:
        for connection in self._connections:
            connection.close()


SQLITE_SYSTEMS: dict[str, Callable[[Path], System]] = {
    "switchboard-sqlite": switchboard_sqlite,
    "eventsourcing-sqlite": EventsourcingSqlite,
    "sqlite3": RawSqlite,
}


def switchboard_firestore(host: str) -> System:
    """Our Firestore store on a project of its own, so that it starts empty; its
    documents are deleted when it is closed."""
    from google.cloud import firestore

    from adapters.firestore.eventstore import FirestoreEventStore

    project = f"switchboard-bench-{uuid.uuid4().hex[:8]}"
    documents = f"http://{host}/emulator/v1/projects/{project}/databases/(default)/documents"

    def reset() -> None:
        request = urllib.request.Request(documents, method="DELETE")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    return PortSystem(
        "switchboard-firestore",
        FirestoreEventStore(firestore.Client(project=project)),
        f"Firestore emulator at {host} (in memory; no durability setting)",
        after_close=reset,
    )


@contextmanager
def firestore_host(launch: bool, notes: list[str]) -> Iterator[str | None]:
    """The emulator to use: FIRESTORE_EMULATOR_HOST, or one started for this run."""
    host = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if host or not launch:
        if not host:
            notes.append(
                "switchboard-firestore skipped: set FIRESTORE_EMULATOR_HOST or pass "
                "--firestore to start the emulator"
            )
        yield host
        return
    sys.path.insert(0, str(ROOT))  # tests/ is not an installed package
    from tests.emulators import EmulatorUnavailable, start

    with tempfile.TemporaryDirectory(prefix="switchboard-bench-emulators-") as log_dir:
        try:
            emulators = start(Path(log_dir))
        except EmulatorUnavailable as error:
            notes.append(f"switchboard-firestore skipped: {error}")
            yield None
            return
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulators.firestore_host
        try:
            yield emulators.firestore_host
        finally:
            emulators.stop()
            del os.environ["FIRESTORE_EMULATOR_HOST"]
