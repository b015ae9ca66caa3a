"""The SQLite bus when the file fails under it: another process holding the write lock
longer than the busy timeout, a COMMIT that fails, a bus closed under a handler. The
Pub/Sub client has no equivalent failures to provoke; `tests/contract/test_bus.py`
covers what both back ends share."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from structlog.testing import capture_logs

import adapters.sqlite.bus
import adapters.sqlite.database
from adapters.sqlite.bus import SqliteBus
from contracts.envelope import Actor, EventEnvelope

T = TypeVar("T")

BUSY_TIMEOUT_S = 0.2
SECRET = "segredo do cliente"


class Connection(sqlite3.Connection):
    """Counts BEGIN IMMEDIATE, and fails the next COMMIT when told, leaving the
    transaction open as a COMMIT that found the file busy does."""

    begins = 0
    fail_next_commit = False

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "BEGIN IMMEDIATE":
            Connection.begins += 1
        if sql == "COMMIT" and Connection.fail_next_commit:
            Connection.fail_next_commit = False
            raise sqlite3.OperationalError("disk I/O error (injected)")
        return super().execute(sql, *args)


@pytest.fixture
def path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bus's file; its writer and readers (opened by `database.py`) wait
    `BUSY_TIMEOUT_S` for a locked file, not 30 s, and use `Connection`."""

    def connect(path: str | Path) -> sqlite3.Connection:
        connection = sqlite3.connect(
            path,
            isolation_level=None,
            check_same_thread=False,
            timeout=BUSY_TIMEOUT_S,
            factory=Connection,
        )
        connection.execute("PRAGMA journal_mode=WAL")
        return connection

    monkeypatch.setattr(adapters.sqlite.database, "connect", connect)
    monkeypatch.setattr(Connection, "begins", 0)
    monkeypatch.setattr(Connection, "fail_next_commit", False)
    return tmp_path / "bus.db"


@pytest.fixture
def bus(path: Path) -> Iterator[SqliteBus]:
    opened = SqliteBus(path, ack_deadline_s=1.0, retry_backoff_s=(0.05, 0.2))
    opened.declare("events", "projector")
    yield opened
    opened.close()


@contextmanager
def write_locked(path: Path) -> Iterator[None]:
    """Another process's writer holding the file."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def envelope() -> EventEnvelope:
    now = datetime.now(UTC)
    return EventEnvelope(
        event_id=str(uuid.uuid4()),
        stream_id="session-1",
        version=1,
        type="TestHappened",
        schema_version=1,
        occurred_at=now,
        recorded_at=now,
        correlation_id="corr-1",
        actor=Actor.USER,
        payload={"text": SECRET},
    )


def within(seconds: float, call: Callable[[], T]) -> T:
    """`call()`, failing the test rather than hanging if it does not return in time."""
    results: list[T] = []
    thread = threading.Thread(target=lambda: results.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert results, f"did not return within {seconds} s"
    return results[0]


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def test_a_begin_that_found_the_file_locked_fails_and_the_bus_recovers(
    bus: SqliteBus, path: Path
) -> None:
    with write_locked(path), pytest.raises(sqlite3.OperationalError, match="locked"):
        bus.publish("events", [envelope()])

    sent = envelope()
    within(5, lambda: bus.publish("events", [sent]))
    received: list[EventEnvelope] = []
    consumer = bus.subscribe("projector", received.append)
    eventually(lambda: len(received) == 1)
    consumer.stop()
    assert received == [sent]


def test_a_commit_that_fails_is_rolled_back_and_the_bus_recovers(bus: SqliteBus) -> None:
    Connection.fail_next_commit = True
    with pytest.raises(sqlite3.OperationalError, match="injected"):
        bus.publish("events", [envelope()])

    sent = envelope()
    within(5, lambda: bus.publish("events", [sent]))
    received: list[EventEnvelope] = []
    consumer = bus.subscribe("projector", received.append)
    eventually(lambda: len(received) == 1)
    time.sleep(0.5)  # the failed publish must not arrive too
    consumer.stop()
    assert received == [sent]


def test_a_consumer_outlives_a_file_locked_longer_than_the_busy_timeout(
    bus: SqliteBus, path: Path
) -> None:
    sent = envelope()
    bus.publish("events", [sent])
    received: list[EventEnvelope] = []
    with capture_logs() as logs:
        with write_locked(path):
            consumer = bus.subscribe("projector", received.append)
            time.sleep(1.0)  # each lease attempt fails meanwhile
            assert received == []
        eventually(lambda: len(received) == 1)
        consumer.stop()

    assert received == [sent]
    assert "consumer_pull_failed" in [entry["event"] for entry in logs]
    assert SECRET not in repr(logs)


def test_an_ack_that_fails_is_logged_and_the_message_comes_back(bus: SqliteBus, path: Path) -> None:
    sent = envelope()
    runs: list[str] = []
    locked = threading.Event()

    def handler(message: EventEnvelope) -> None:
        runs.append(message.event_id)
        if len(runs) == 1:  # another writer takes the file until after the ack gave up
            threading.Thread(target=hold_write_lock, args=(1.0,), daemon=True).start()
            assert locked.wait(5)

    def hold_write_lock(seconds: float) -> None:
        with write_locked(path):
            locked.set()
            time.sleep(seconds)

    bus.publish("events", [sent])
    with capture_logs() as logs:
        consumer = bus.subscribe("projector", handler)
        eventually(lambda: len(runs) == 2)  # its lease ran out: delivered again
        consumer.stop()

    assert runs == [sent.event_id, sent.event_id]
    assert "settle_failed" in [entry["event"] for entry in logs]
    assert SECRET not in repr(logs)


def test_a_handler_that_outlives_close_cannot_ack_and_its_message_comes_back(
    bus: SqliteBus, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adapters.sqlite.bus, "STOP_TIMEOUT_S", 0.2, raising=False)
    sent = envelope()
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    def held(message: EventEnvelope) -> None:
        started.set()
        release.wait(10)
        finished.set()

    bus.publish("events", [sent])
    with capture_logs() as logs:
        bus.subscribe("projector", held)
        assert started.wait(5)
        within(5, bus.close)
        release.set()
        assert finished.wait(5)
        time.sleep(0.2)  # its ack meets the closed bus

    events = [entry["event"] for entry in logs]
    assert "settle_dropped_bus_closed" in events
    assert "settle_failed" not in events
    reopened = SqliteBus(path, ack_deadline_s=1.0)
    received: list[EventEnvelope] = []
    consumer = reopened.subscribe("projector", received.append)
    try:
        eventually(lambda: len(received) == 1)
    finally:
        consumer.stop()
        reopened.close()
    assert received == [sent]


def test_an_idle_consumer_does_not_take_the_write_lock(bus: SqliteBus) -> None:
    Connection.begins = 0
    consumer = bus.subscribe("projector", lambda message: None)
    time.sleep(1.0)
    consumer.stop()

    assert Connection.begins == 0
