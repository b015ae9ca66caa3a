"""The embedded `Bus`: durable queues in the SQLite file, one row per subscription.

Publishing copies the message into the queue of every subscription of the topic (in
one transaction). A consumer leases rows by pushing `available_at` one ack deadline
into the future and counting the attempt, and keeps pushing it while the handler runs
(see `consumer.py`); acking deletes the row; a failure makes it available again after
a backoff. A row whose attempts are spent moves to `bus_dead_letters`. A consumer
killed mid-handler simply lets its lease run out. Rows stay until acked or
dead-lettered: the queue has no retention limit.

Every write goes through the file's shared writer (`database.py`): the acks of many
handler threads, the event store's appends and the snapshots' commits of the process
share transactions and fsyncs. A write that failed raises what SQLite raised, an
`OperationalError` (`GroupCommitFailed` when the shared transaction failed).
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

from adapters.sqlite.consumer import Leased, SqliteConsumer
from adapters.sqlite.database import Readers, open_writer
from adapters.sqlite.group_commit import ConnectionClosed
from contracts.envelope import EventEnvelope
from contracts.ports.bus import (
    DeadLetter,
    Handler,
    SubscriptionConflict,
    UnknownSubscription,
    UnknownTopic,
)

T = TypeVar("T")

STOP_TIMEOUT_S = 30.0
"""How long `close` waits for the handlers of each consumer still running, as
`Consumer.stop()` does by default."""


class BusClosed(RuntimeError):
    """The bus was closed; nothing more can be read or written through it."""


class SqliteBus:
    def __init__(
        self,
        path: str | Path,
        *,
        ack_deadline_s: float = 30.0,
        max_delivery_attempts: int = 5,
        retry_backoff_s: tuple[float, float] = (1.0, 60.0),
    ) -> None:
        self._file = _BusFile(path)
        self.ack_deadline_s = ack_deadline_s
        self.max_delivery_attempts = max_delivery_attempts
        self.retry_backoff_s = retry_backoff_s
        self._consumers: list[SqliteConsumer] = []
        self._consumers_lock = threading.Lock()
        self._closing = False

    def declare(self, topic: str, subscription: str | None = None) -> None:
        self._file.write(partial(_declare, topic, subscription))

    def publish(self, topic: str, envelopes: Sequence[EventEnvelope]) -> None:
        if not envelopes:
            return
        data = [envelope.to_json() for envelope in envelopes]
        self._file.write(partial(_publish, topic, data, time.time()))
        self._file.wake()

    def subscribe(
        self, subscription: str, handler: Handler, max_in_flight: int = 8
    ) -> SqliteConsumer:
        with self._file.read() as connection:
            known = connection.execute(
                "SELECT 1 FROM bus_subscriptions WHERE name = ?", (subscription,)
            ).fetchone()
        if known is None:
            raise UnknownSubscription(f"subscription {subscription!r} does not exist; declare it")
        with self._consumers_lock:
            if self._closing:
                raise BusClosed("the bus is closing; subscribe on another one")
            consumer = SqliteConsumer(
                _Queue(self, subscription), subscription, handler, max_in_flight
            )
            self._consumers = [c for c in self._consumers if c.running] + [consumer]
        return consumer

    def dead_letters(self, subscription: str, limit: int = 100) -> list[DeadLetter]:
        with self._file.read() as connection:
            rows = connection.execute(
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
        """Stops the consumers still running (their handlers get `STOP_TIMEOUT_S` to
        finish), then the file. A handler that finishes later cannot ack: its message
        comes back when the lease runs out."""
        with self._consumers_lock:
            if self._closing:
                return
            self._closing = True
            consumers, self._consumers = self._consumers, []
        for consumer in consumers:
            if consumer.running:
                consumer.stop(STOP_TIMEOUT_S)
        self._file.close()


class _Queue:
    """The rows of one subscription, as its consumer leases and settles them."""

    def __init__(self, bus: SqliteBus, subscription: str) -> None:
        self._bus = bus
        self._file = bus._file
        self._subscription = subscription
        self.ack_deadline_s = bus.ack_deadline_s

    @property
    def closed(self) -> bool:
        return self._file.closed

    def lease(self, count: int) -> list[Leased]:
        """Lease up to `count` available rows; dead-letter those whose lease ran out
        on their last allowed attempt (their consumer died). A plain read comes first,
        so that an idle consumer does not compete for the write lock."""
        now = time.time()
        with self._file.read() as reader:
            ready = reader.execute(
                "SELECT 1 FROM bus_queue WHERE subscription = ? AND available_at <= ? LIMIT 1",
                (self._subscription, now),
            ).fetchone()
        if ready is None:
            return []

        def lease(connection: sqlite3.Connection) -> list[Leased]:
            rows = connection.execute(
                "SELECT id, data, attempts FROM bus_queue "
                "WHERE subscription = ? AND available_at <= ? ORDER BY id LIMIT ?",
                (self._subscription, now, count),
            ).fetchall()
            leased = []
            for row_id, data, attempts in rows:
                if attempts >= self._bus.max_delivery_attempts:
                    _move_to_dead_letters(connection, row_id, "ack deadline expired")
                    continue
                connection.execute(
                    "UPDATE bus_queue SET attempts = attempts + 1, available_at = ? WHERE id = ?",
                    (now + self.ack_deadline_s, row_id),
                )
                leased.append(Leased(row_id, attempts + 1, _decode(data)))
            return leased

        return self._file.write(lease)

    def extend(self, leases: Callable[[], list[Leased]]) -> None:
        """Push the leases `leases()` returns one ack deadline ahead. It is called
        inside the write transaction, and the file's writes run one at a time, so a
        lease settled meanwhile (its handler forgets it before acking) is not pushed
        back."""

        def extend(connection: sqlite3.Connection) -> None:
            until = time.time() + self.ack_deadline_s
            connection.executemany(
                "UPDATE bus_queue SET available_at = ? WHERE id = ? AND attempts = ?",
                [(until, lease.row_id, lease.attempt) for lease in leases()],
            )

        self._file.write(extend)

    def ack(self, lease: Leased) -> None:
        self._file.write(partial(_ack, lease))

    def nack(self, lease: Leased, error: str) -> None:
        if lease.attempt >= self._bus.max_delivery_attempts:
            self._file.write(partial(_dead_letter, lease, error))
            return
        low, high = self._bus.retry_backoff_s
        backoff = min(high, low * 2 ** (lease.attempt - 1)) * random.uniform(0.5, 1.0)
        self._file.write(partial(_retry_later, lease, error, backoff))

    def release(self, lease: Leased) -> None:
        """Give back a lease that was never handled; it does not count as an attempt."""
        self._file.write(partial(_release, lease))

    def wait(self, timeout: float) -> None:
        self._file.wait(timeout)

    def wake(self) -> None:
        self._file.wake()


class _BusFile:
    """The bus's use of its file: writes through the file's shared writer, reads on
    connections of its own, both refused with `BusClosed` once closed; and a signal for
    consumers that something was published."""

    def __init__(self, path: str | Path) -> None:
        self._writer = open_writer(path)
        self._readers = Readers(path)
        self._signal = threading.Condition()
        self.closed = False

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with _refused_once_closed(self), self._readers.connection() as reader:
            yield reader

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` in a write transaction, maybe shared with other writers of the file,
        and return once it is durable."""
        with _refused_once_closed(self):
            return self._writer.run(fn)

    def wait(self, timeout: float) -> None:
        with self._signal:
            self._signal.wait(timeout)

    def wake(self) -> None:
        with self._signal:
            self._signal.notify_all()

    def close(self) -> None:
        """Reads and writes that begin later get `BusClosed`. The file's writer closes
        with the last adapter on it, once its transaction under way has ended."""
        self.closed = True
        self._readers.close()
        self._writer.close()
        self.wake()


@contextmanager
def _refused_once_closed(file: _BusFile) -> Iterator[None]:
    if file.closed:
        raise BusClosed("the bus is closed")
    try:
        yield
    except ConnectionClosed as closed:  # closed while this call began
        raise BusClosed("the bus is closed") from closed


def _declare(topic: str, subscription: str | None, connection: sqlite3.Connection) -> None:
    connection.execute("INSERT OR IGNORE INTO bus_topics (name) VALUES (?)", (topic,))
    if subscription is None:
        return
    row = connection.execute(
        "SELECT topic FROM bus_subscriptions WHERE name = ?", (subscription,)
    ).fetchone()
    if row is None:
        connection.execute(
            "INSERT INTO bus_subscriptions (name, topic) VALUES (?, ?)", (subscription, topic)
        )
    elif row[0] != topic:
        raise SubscriptionConflict(
            f"subscription {subscription!r} already exists on topic {row[0]!r}"
        )


def _publish(topic: str, data: list[bytes], now: float, connection: sqlite3.Connection) -> None:
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
        [(name, message, now) for message in data for name in subscriptions],
    )


def _ack(lease: Leased, connection: sqlite3.Connection) -> None:
    connection.execute(
        "DELETE FROM bus_queue WHERE id = ? AND attempts = ?", (lease.row_id, lease.attempt)
    )


def _dead_letter(lease: Leased, error: str, connection: sqlite3.Connection) -> None:
    _move_to_dead_letters(connection, lease.row_id, error, lease.attempt)


def _retry_later(lease: Leased, error: str, backoff: float, connection: sqlite3.Connection) -> None:
    connection.execute(
        "UPDATE bus_queue SET available_at = ?, last_error = ? WHERE id = ? AND attempts = ?",
        (time.time() + backoff, error, lease.row_id, lease.attempt),
    )


def _release(lease: Leased, connection: sqlite3.Connection) -> None:
    connection.execute(
        "UPDATE bus_queue SET available_at = ?, attempts = attempts - 1 "
        "WHERE id = ? AND attempts = ?",
        (time.time(), lease.row_id, lease.attempt),
    )


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
