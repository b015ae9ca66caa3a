"""The embedded `Bus`: durable queues in the SQLite file, one row per subscription.

Publishing copies the message into the queue of every subscription of the topic (in
one transaction). A consumer leases rows by pushing `available_at` one ack deadline
into the future and counting the attempt; acking deletes the row; a failure makes it
available again after a backoff. A row whose attempts are spent moves to
`bus_dead_letters`. A consumer killed mid-handler simply lets its lease run out.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import structlog

from adapters.sqlite.connection import connect, create_schema
from contracts.envelope import EventEnvelope
from contracts.ports.bus import (
    DeadLetter,
    Handler,
    SubscriptionConflict,
    UnknownSubscription,
    UnknownTopic,
)

log = structlog.get_logger(__name__)

_POLL_S = 0.1


class SqliteBus:
    def __init__(
        self,
        path: str | Path,
        *,
        ack_deadline_s: float = 30.0,
        max_delivery_attempts: int = 5,
        retry_backoff_s: tuple[float, float] = (1.0, 60.0),
    ) -> None:
        self._connection = connect(path)
        create_schema(self._connection)
        self._lock = threading.Lock()
        self._published = threading.Condition()
        self.ack_deadline_s = ack_deadline_s
        self.max_delivery_attempts = max_delivery_attempts
        self.retry_backoff_s = retry_backoff_s

    def declare(self, topic: str, subscription: str | None = None) -> None:
        with self._transaction() as connection:
            connection.execute("INSERT OR IGNORE INTO bus_topics (name) VALUES (?)", (topic,))
            if subscription is None:
                return
            row = connection.execute(
                "SELECT topic FROM bus_subscriptions WHERE name = ?", (subscription,)
            ).fetchone()
            if row is None:
                connection.execute(
                    "INSERT INTO bus_subscriptions (name, topic) VALUES (?, ?)",
                    (subscription, topic),
                )
            elif row[0] != topic:
                raise SubscriptionConflict(
                    f"subscription {subscription!r} already exists on topic {row[0]!r}"
                )

    def publish(self, topic: str, envelopes: Sequence[EventEnvelope]) -> None:
        now = time.time()
        with self._transaction() as connection:
            known = connection.execute("SELECT 1 FROM bus_topics WHERE name = ?", (topic,))
            if known.fetchone() is None:
                raise UnknownTopic(f"topic {topic!r} does not exist; declare it first")
            subscriptions = [
                name
                for (name,) in connection.execute(
                    "SELECT name FROM bus_subscriptions WHERE topic = ?", (topic,)
                )
            ]
            connection.executemany(
                "INSERT INTO bus_queue (subscription, data, available_at) VALUES (?, ?, ?)",
                [
                    (name, envelope.to_json(), now)
                    for envelope in envelopes
                    for name in subscriptions
                ],
            )
        with self._published:
            self._published.notify_all()

    def subscribe(self, subscription: str, handler: Handler, max_in_flight: int = 8) -> _Consumer:
        with self._lock:
            known = self._connection.execute(
                "SELECT 1 FROM bus_subscriptions WHERE name = ?", (subscription,)
            ).fetchone()
        if known is None:
            raise UnknownSubscription(f"subscription {subscription!r} does not exist; declare it")
        return _Consumer(self, subscription, handler, max_in_flight)

    def dead_letters(self, subscription: str, limit: int = 100) -> list[DeadLetter]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT message_id, data, attempts, dead_lettered_at, error "
                "FROM bus_dead_letters WHERE subscription = ? ORDER BY id LIMIT ?",
                (subscription, limit),
            ).fetchall()
        return [
            DeadLetter(
                subscription=subscription,
                message_id=message_id,
                data=bytes(data),
                envelope=_decode(data),
                delivery_attempts=attempts,
                dead_lettered_at=datetime.fromisoformat(at),
                error=error,
            )
            for message_id, data, attempts, at, error in rows
        ]

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    # -- used by consumers ---------------------------------------------------------

    def _transaction(self) -> _Transaction:
        return _Transaction(self._connection, self._lock)

    def _lease(self, subscription: str, count: int) -> list[tuple[int, bytes, int]]:
        """Lease up to `count` available rows; dead-letter those whose lease ran out
        on their last allowed attempt (their consumer died)."""
        now = time.time()
        with self._transaction() as connection:
            rows = connection.execute(
                "SELECT id, data, attempts FROM bus_queue "
                "WHERE subscription = ? AND available_at <= ? ORDER BY id LIMIT ?",
                (subscription, now, count),
            ).fetchall()
            leased = []
            for row_id, data, attempts in rows:
                if attempts >= self.max_delivery_attempts:
                    _move_to_dead_letters(connection, row_id, "ack deadline expired")
                    continue
                connection.execute(
                    "UPDATE bus_queue SET attempts = attempts + 1, available_at = ? WHERE id = ?",
                    (now + self.ack_deadline_s, row_id),
                )
                leased.append((row_id, bytes(data), attempts + 1))
        return leased

    def _ack(self, row_id: int, attempt: int) -> None:
        with self._transaction() as connection:
            connection.execute(
                "DELETE FROM bus_queue WHERE id = ? AND attempts = ?", (row_id, attempt)
            )

    def _nack(self, row_id: int, attempt: int, error: str) -> None:
        low, high = self.retry_backoff_s
        backoff = min(high, low * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        with self._transaction() as connection:
            if attempt >= self.max_delivery_attempts:
                _move_to_dead_letters(connection, row_id, error, attempt)
            else:
                connection.execute(
                    "UPDATE bus_queue SET available_at = ?, last_error = ? "
                    "WHERE id = ? AND attempts = ?",
                    (time.time() + backoff, error, row_id, attempt),
                )

    def _release(self, row_id: int, attempt: int) -> None:
        """Give back a lease that was never handled; it does not count as an attempt."""
        with self._transaction() as connection:
            connection.execute(
                "UPDATE bus_queue SET available_at = ?, attempts = attempts - 1 "
                "WHERE id = ? AND attempts = ?",
                (time.time(), row_id, attempt),
            )

    def _wait_for_publish(self, timeout: float) -> None:
        with self._published:
            self._published.wait(timeout)


class _Transaction:
    def __init__(self, connection: sqlite3.Connection, lock: threading.Lock) -> None:
        self._connection = connection
        self._lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        self._connection.execute("BEGIN IMMEDIATE")
        return self._connection

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self._connection.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self._lock.release()


def _move_to_dead_letters(
    connection: sqlite3.Connection, row_id: int, error: str, attempts: int | None = None
) -> None:
    connection.execute(
        "INSERT INTO bus_dead_letters "
        "(subscription, message_id, data, attempts, dead_lettered_at, error) "
        "SELECT subscription, CAST(id AS TEXT), data, coalesce(?, attempts), ?, ? "
        "FROM bus_queue WHERE id = ?",
        (attempts, datetime.now(UTC).isoformat(), error, row_id),
    )
    connection.execute("DELETE FROM bus_queue WHERE id = ?", (row_id,))


def _decode(data: bytes) -> EventEnvelope | None:
    try:
        return EventEnvelope.from_json(data)
    except ValueError:  # not JSON, or not an envelope
        return None


class _Consumer:
    """Leases messages on one thread and runs the handler on a pool of threads, with
    at most `max_in_flight` leased at a time."""

    def __init__(
        self, bus: SqliteBus, subscription: str, handler: Handler, max_in_flight: int
    ) -> None:
        self._bus = bus
        self._subscription = subscription
        self._handler = handler
        self._max_in_flight = max_in_flight
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_in_flight, thread_name_prefix=subscription)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._pull, name=f"{subscription}-pull", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        with self._bus._published:
            self._bus._published.notify_all()
        self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _pull(self) -> None:
        while not self._stopping.is_set():
            with self._in_flight_lock:
                free = self._max_in_flight - self._in_flight
            leased = self._bus._lease(self._subscription, free) if free else []
            for row_id, data, attempt in leased:
                with self._in_flight_lock:
                    self._in_flight += 1
                future = self._pool.submit(self._handle, row_id, data, attempt)
                future.add_done_callback(partial(self._finished, row_id, attempt))
            if len(leased) < free or not free:
                self._bus._wait_for_publish(_POLL_S)

    def _handle(self, row_id: int, data: bytes, attempt: int) -> None:
        envelope = _decode(data)
        if envelope is None:
            self._bus._nack(row_id, attempt, "message data is not an event envelope")
            return
        try:
            self._handler(envelope)
        except Exception as error:
            log.warning(
                "handler_failed",
                subscription=self._subscription,
                event_id=envelope.event_id,
                attempt=attempt,
                error=type(error).__name__,
            )
            self._bus._nack(row_id, attempt, f"{type(error).__name__}: {error}")
        else:
            self._bus._ack(row_id, attempt)

    def _finished(self, row_id: int, attempt: int, future: Future[None]) -> None:
        with self._in_flight_lock:
            self._in_flight -= 1
        if future.cancelled():  # stopped before it ran: hand the lease back
            self._bus._release(row_id, attempt)
