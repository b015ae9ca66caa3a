"""One writer per SQLite file per process, shared by every adapter opened on the file.

SQLite lets one connection write at a time, and with `synchronous=FULL` each commit
pays an fsync. With a writer each, the event store, the bus and the snapshot store of
one process queued for the file's write lock and fsynced one after the other; through
one connection and its `GroupCommitter` their writes share transactions and fsyncs.

`open_writer(path)` hands an adapter a `Writer` on the shared writer of the file,
opening it (and creating the schema) for the first one. The writer stays open while
any `Writer` on it is open; the last `close` closes it, once the transaction under way
has ended. Another process on the same file has its own writer: SQLite's file lock and
busy timeout take turns between them, as ever.

Reads do not go through the writer: each adapter keeps a pool of read connections
(`Readers`), and WAL readers never wait for the writer.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import structlog

from adapters.sqlite.connection import connect, create_schema
from adapters.sqlite.group_commit import ConnectionClosed, GroupCommitter

T = TypeVar("T")
log = structlog.get_logger(__name__)


CHECKPOINT_EVERY_S = 0.5
"""How often the write-ahead log is copied into the database file, away from writers."""


class _Shared:
    """The writer of one file: its connection's group committer, how many `Writer`s are
    open on it, and the thread that checkpoints the log.

    SQLite checkpoints in the commit that crosses 1,000 pages of log, and with
    `synchronous=FULL` that commit then waits for the database file's fsync too: a
    webhook now and then would take tens of milliseconds. The writer does not
    checkpoint; a thread of its own does, passively, twice a second."""

    def __init__(self, path: Path) -> None:
        connection = connect(path)
        try:
            create_schema(connection)
            connection.execute("PRAGMA wal_autocheckpoint=0")
        except BaseException:
            connection.close()
            raise
        self.committer = GroupCommitter(connection)
        self.users = 0
        self._stop = threading.Event()
        checkpointing = connect(path)
        self._checkpointer = threading.Thread(
            target=self._checkpoint, args=(checkpointing,), name="sqlite-checkpoint",
            daemon=True,
        )  # fmt: skip
        self._checkpointer.start()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            while not self._stop.wait(CHECKPOINT_EVERY_S):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as error:  # busy or I/O: the next round tries again
                    log.warning("wal_checkpoint_failed", error=str(error))
        finally:
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self.committer.close()
        self._checkpointer.join(timeout=5)


_writers: dict[Path, _Shared] = {}
_writers_lock = threading.Lock()


def open_writer(path: str | Path) -> Writer:
    """A handle on the shared writer of the file at `path` (however it is spelt)."""
    key = Path(path).resolve()
    with _writers_lock:
        shared = _writers.get(key)
        if shared is None:
            shared = _writers[key] = _Shared(key)
        shared.users += 1
    return Writer(key, shared)


class Writer:
    """One adapter's use of its file's shared writer."""

    def __init__(self, key: Path, shared: _Shared) -> None:
        self._key = key
        self._shared = shared
        self._closed = False

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """`GroupCommitter.run`: `fn` runs in a write transaction, maybe shared with
        other writers of the file, and this returns once that transaction is durable.
        `ConnectionClosed` once this `Writer` is closed."""
        if self._closed:
            raise ConnectionClosed("this adapter's writer is closed")
        return self._shared.committer.run(fn)

    def close(self) -> None:
        """Idempotent. The last `Writer` of the file to close closes the connection."""
        with _writers_lock:
            if self._closed:
                return
            self._closed = True
            self._shared.users -= 1
            last = self._shared.users == 0
            if last:
                del _writers[self._key]
        if last:
            self._shared.close()


class Readers:
    """The read connections of one adapter: one for the duration of each read, taken
    from the idle ones or opened. The pool holds as many as reads ever ran at once, not
    one per thread that ever read (a web server's threads come and go)."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._idle: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._closed:
                raise ConnectionClosed("this adapter's readers are closed")
            reader = self._idle.pop() if self._idle else None
        if reader is None:
            reader = connect(self._path)
        try:
            yield reader
        finally:
            with self._lock:
                kept = not self._closed
                if kept:
                    self._idle.append(reader)
            if not kept:  # closed during the read: nobody will take it again
                reader.close()

    def close(self) -> None:
        """Closes the idle connections now, and those in use when their read ends."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for reader in idle:
            reader.close()
