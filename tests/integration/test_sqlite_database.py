"""One writer per SQLite file per process: the event store, the bus and the snapshot
store of a file write through one connection, whose group commits they share, and the
last of them to close closes it."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

import adapters.sqlite.database
from adapters.sqlite.bus import BusClosed, SqliteBus
from adapters.sqlite.eventstore import SqliteEventStore
from adapters.sqlite.snapshots import SqliteSnapshotStore
from contracts.envelope import Actor, EventEnvelope, NewEvent
from contracts.ports.snapshots import Position, Put

OWNERS = {"sessions": "sessions"}


class Connection(sqlite3.Connection):
    """Remembers the connections that began a write transaction, and counts commits."""

    writers: ClassVar[list[Connection]] = []
    commits = 0

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "BEGIN IMMEDIATE" and self not in Connection.writers:
            Connection.writers.append(self)
        elif sql == "COMMIT":
            Connection.commits += 1
        return super().execute(sql, *args)


def connect(path: str | Path) -> sqlite3.Connection:
    """`connect()`'s settings (WAL, synchronous=FULL), on a `Connection`."""
    connection = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=30.0, factory=Connection
    )
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    return connection


@pytest.fixture
def path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(adapters.sqlite.database, "connect", connect)
    monkeypatch.setattr(Connection, "writers", [])
    monkeypatch.setattr(Connection, "commits", 0)
    return tmp_path / "switchboard.db"


def new_event() -> NewEvent:
    return NewEvent(
        event_id=str(uuid.uuid4()), type="TestHappened", schema_version=1,
        occurred_at=datetime.now(UTC), correlation_id="c", actor=Actor.SYSTEM, payload={},
    )  # fmt: skip


def envelope() -> EventEnvelope:
    now = datetime.now(UTC)
    return EventEnvelope(
        event_id=str(uuid.uuid4()), stream_id="session-1", version=1, type="TestHappened",
        schema_version=1, occurred_at=now, recorded_at=now, correlation_id="c",
        actor=Actor.SYSTEM, payload={},
    )  # fmt: skip


def commit_snapshot(snapshots: SqliteSnapshotStore, version: int) -> None:
    put = Put("sessions", "s1", {"n": version})
    snapshots.commit("sessions", 1, "session-1", version - 1, Position(version), [put])


def test_the_adapters_of_a_file_share_one_writer_that_the_last_close_closes(
    path: Path,
) -> None:
    store = SqliteEventStore(path)
    bus = SqliteBus(path.parent / "elsewhere" / ".." / path.name)  # the same file
    snapshots = SqliteSnapshotStore(path, OWNERS)
    store.append("session-1", [new_event()], expected_version=0)
    bus.declare("events", "projector")
    bus.publish("events", [envelope()])
    commit_snapshot(snapshots, 1)
    [writer] = Connection.writers

    store.close()
    bus.publish("events", [envelope()])
    bus.close()
    with pytest.raises(BusClosed):
        bus.publish("events", [envelope()])
    commit_snapshot(snapshots, 2)
    writer.execute("SELECT 1")  # still open: the snapshot store uses it
    snapshots.close()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        writer.execute("SELECT 1")

    reopened = SqliteEventStore(path)  # a writer of its own, the last one being closed
    try:
        reopened.append("session-1", [new_event()], expected_version=1)
        assert [event.version for event in reopened.read("session-1")] == [1, 2]
    finally:
        reopened.close()
    assert len(Connection.writers) == 2


def test_concurrent_acks_and_appends_share_commits(path: Path) -> None:
    store, bus = SqliteEventStore(path), SqliteBus(path)
    bus.declare("events", "projector")
    handlers, waves = 8, 10
    bus.publish("events", [envelope() for _ in range(handlers * waves)])
    together = threading.Barrier(handlers)
    acked = threading.Semaphore(0)

    def handle(message: EventEnvelope) -> None:
        together.wait(timeout=10)  # then every handler acks at once, and appends too
        store.append(f"session-{uuid.uuid4().hex}", [new_event()], expected_version=0)
        acked.release()

    Connection.commits = 0
    consumer = bus.subscribe("projector", handle, max_in_flight=handlers)
    try:
        for _ in range(handlers * waves):
            assert acked.acquire(timeout=30)
        eventually(lambda: queued(path) == 0)
    finally:
        consumer.stop()
        bus.close()
        store.close()
    writes = 2 * handlers * waves + waves  # an append and an ack each, a lease a wave
    assert Connection.commits < writes / 2  # about 3.4 writes a commit here


def queued(path: Path) -> int:
    with closing(sqlite3.connect(path)) as reader:
        return int(reader.execute("SELECT count(*) FROM bus_queue").fetchone()[0])


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)
