"""The SQLite store's read connections: as many as reads ran at once, not one for
every thread that ever read (a web server's threads come and go)."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

import adapters.sqlite.database
from adapters.sqlite.connection import connect
from adapters.sqlite.eventstore import SqliteEventStore
from contracts.envelope import Actor, NewEvent


def test_short_lived_threads_share_a_few_reader_connections_closed_with_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[sqlite3.Connection] = []

    def record(path: str | Path) -> sqlite3.Connection:
        opened.append(connect(path))
        return opened[-1]

    monkeypatch.setattr(adapters.sqlite.database, "connect", record)
    store = SqliteEventStore(tmp_path / "switchboard.db")
    event = NewEvent(
        event_id=str(uuid.uuid4()), type="TestHappened", schema_version=1,
        occurred_at=datetime.now(UTC), correlation_id="c", actor=Actor.SYSTEM, payload={},
    )  # fmt: skip
    store.append("session-a", [event], expected_version=0)
    at_once, waves = 4, 25
    together = threading.Barrier(at_once)
    versions: list[int] = []

    def read() -> None:
        together.wait()
        versions.append(store.version("session-a"))
        versions.append(len(store.read("session-a")))

    for _ in range(waves):  # 100 threads, never more than 4 alive at once
        threads = [threading.Thread(target=read) for _ in range(at_once)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert versions == [1] * (2 * at_once * waves)
    readers = opened[2:]  # the first is the writer, the second its checkpointer
    assert 1 <= len(readers) <= at_once
    store.close()
    for reader in readers:
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            reader.execute("SELECT 1")
