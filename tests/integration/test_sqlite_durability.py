"""An acknowledged write must be on disk, not only in the OS page cache.

`kill -9` keeps the page cache, so the crash test in the contract suite passes even
with `synchronous=OFF`: it proves that an append is acknowledged only once committed.
That a commit waits for fsync is a setting of each connection, checked here."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

import adapters.sqlite.database
from adapters.sqlite.bus import SqliteBus
from adapters.sqlite.connection import connect
from adapters.sqlite.eventstore import SqliteEventStore
from adapters.sqlite.snapshots import SqliteSnapshotStore
from contracts.envelope import Actor, NewEvent
from contracts.ports.snapshots import Position, Put

FSYNC_EVERY_COMMIT = (2, "wal")  # synchronous=FULL, journal_mode=WAL


def durability(connection: sqlite3.Connection) -> tuple[int, str]:
    (synchronous,) = connection.execute("PRAGMA synchronous").fetchone()
    (journal_mode,) = connection.execute("PRAGMA journal_mode").fetchone()
    return synchronous, journal_mode


def recording(monkeypatch: pytest.MonkeyPatch) -> list[sqlite3.Connection]:
    """Every connection the adapters open from now on: their writer (shared by the
    adapters of a file) and their readers all come from `database.py`."""
    opened: list[sqlite3.Connection] = []
    original: Callable[[str | Path], sqlite3.Connection] = connect

    def record(path: str | Path) -> sqlite3.Connection:
        opened.append(original(path))
        return opened[-1]

    monkeypatch.setattr(adapters.sqlite.database, "connect", record)
    return opened


def test_connect_fsyncs_every_commit_into_a_wal(tmp_path: Path) -> None:
    connection = connect(tmp_path / "switchboard.db")
    try:
        assert durability(connection) == FSYNC_EVERY_COMMIT
    finally:
        connection.close()


def test_the_event_stores_writer_and_readers_fsync_every_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = recording(monkeypatch)
    store = SqliteEventStore(tmp_path / "switchboard.db")
    try:
        event = NewEvent(
            event_id=str(uuid.uuid4()), type="TestHappened", schema_version=1,
            occurred_at=datetime.now(UTC), correlation_id="c", actor=Actor.SYSTEM, payload={},
        )  # fmt: skip
        store.append("session-a", [event], expected_version=0)
        assert store.read("session-a") != []

        assert len(opened) == 3  # the writer, its checkpointer, then a reader
        assert [durability(connection) for connection in opened] == [FSYNC_EVERY_COMMIT] * 3
    finally:
        store.close()


def test_the_bus_writer_and_readers_fsync_every_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = recording(monkeypatch)
    bus = SqliteBus(tmp_path / "switchboard.db")
    try:
        bus.declare("events", "projector")
        assert bus.dead_letters("projector") == []

        assert len(opened) == 3  # the writer, its checkpointer, then a reader
        assert [durability(connection) for connection in opened] == [FSYNC_EVERY_COMMIT] * 3
    finally:
        bus.close()


def test_the_snapshot_stores_writer_and_readers_fsync_every_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = recording(monkeypatch)
    snapshots = SqliteSnapshotStore(tmp_path / "switchboard.db", {"sessions": "sessions"})
    try:
        snapshots.commit("sessions", 1, "session-a", 0, Position(1), [Put("sessions", "a", {})])
        assert snapshots.get("sessions", "a") == {"id": "a"}

        assert len(opened) == 3  # the writer, its checkpointer, then a reader
        assert [durability(connection) for connection in opened] == [FSYNC_EVERY_COMMIT] * 3
    finally:
        snapshots.close()
