"""Group commit: concurrent writers share one transaction and one fsync.

A writer queues its work. If no group is being committed, it becomes the leader: it
takes every queued piece of work, runs each in its own savepoint inside one
transaction, commits once, and wakes the others. Writers that queued meanwhile sleep
until then; those whose work was in the group return, and one of the rest leads the
next group with everything that queued up behind it. A lone writer leads its own group
of one, so it pays no hand-off to a background thread. Closing lets the group under way
commit, and refuses the work queued behind it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class _Work(Generic[T]):
    __slots__ = ("done", "error", "fn", "value")

    def __init__(self, fn: Callable[[sqlite3.Connection], T]) -> None:
        self.fn = fn
        self.done = False
        self.value: T | None = None
        self.error: BaseException | None = None


class GroupCommitter:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection
        self._changed = threading.Condition()
        self._leading = False
        self._closed = False
        self._queue: list[_Work[Any]] = []

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` inside a write transaction and return once that transaction is
        durable. An exception from `fn` undoes only `fn`'s writes and is re-raised; if
        the transaction itself fails, `GroupCommitFailed` is raised, and
        `ConnectionClosed` once the committer is closed."""
        work = _Work(fn)
        with self._changed:
            if self._closed:
                raise ConnectionClosed("the writer is closed")
            self._queue.append(work)
            while (self._leading or self._closed) and not work.done:
                self._changed.wait()
            if not work.done:
                self._leading = True
                group, self._queue = self._queue, []
        if not work.done:
            try:
                self._commit(group)
            finally:
                with self._changed:
                    self._leading = False
                    self._changed.notify_all()
        if not work.done:  # never report success for work no transaction ran
            raise GroupCommitFailed("the write transaction ended before this work ran")
        if work.error is not None:
            raise work.error
        return work.value  # type: ignore[return-value]

    def close(self) -> None:
        """Close the connection once the group being committed has ended. Work still
        queued behind it does not run: its writers get `ConnectionClosed`."""
        with self._changed:
            if self._closed:
                return
            self._closed = True  # from now on nobody leads a new group
            while self._leading:
                self._changed.wait()
            for work in self._queue:
                work.done, work.error = True, ConnectionClosed("the writer closed meanwhile")
            self._queue = []
            self._connection.close()
            self._changed.notify_all()

    def _commit(self, group: list[_Work[Any]]) -> None:
        """Run `group` in one transaction and settle every work of it, whatever fails:
        each ends done, with its value or its own error if the transaction committed,
        or with `GroupCommitFailed` if it did not."""
        try:
            self._transact(group)
        except Exception as failure:
            self._abandon(group, failure)
        except BaseException as failure:  # KeyboardInterrupt: stop, but tell the others
            self._abandon(group, failure)
            raise
        finally:
            for work in group:
                work.done = True

    def _transact(self, group: list[_Work[Any]]) -> None:
        connection = self._connection
        if connection.in_transaction:
            # A rollback that failed left the last group's transaction open: none of it
            # committed, and it still holds the write lock.
            connection.execute("ROLLBACK")
        connection.execute("BEGIN IMMEDIATE")
        if len(group) == 1:  # alone: a failure may undo the whole transaction
            work = group[0]
            try:
                work.value = work.fn(connection)
            except Exception as error:
                connection.execute("ROLLBACK")
                work.error = error
                return
        else:
            for work in group:
                connection.execute("SAVEPOINT work")
                try:
                    work.value = work.fn(connection)
                except Exception as error:
                    connection.execute("ROLLBACK TO work")
                    work.error = error
                connection.execute("RELEASE work")
        connection.execute("COMMIT")

    def _abandon(self, group: list[_Work[Any]], failure: BaseException) -> None:
        """Nobody's work is durable: every writer hears so, even if the rollback fails
        too (the next group then rolls back first)."""
        message = f"the write transaction failed: {failure!r}"
        errors = [GroupCommitFailed(message, failure) for _ in group]
        for work, error in zip(group, errors, strict=True):
            work.value, work.error = None, error
        if self._connection.in_transaction:
            try:
                self._connection.execute("ROLLBACK")
            except sqlite3.Error as rollback_failure:
                for error in errors:
                    error.add_note(f"and so did the rollback: {rollback_failure!r}")


class GroupCommitFailed(sqlite3.OperationalError):
    """The shared transaction could not begin or commit (file locked longer than the
    busy timeout, disk full, I/O error...): none of its work is durable. It is an
    `OperationalError`, as a writer alone would have seen: its message names the failure
    (its `__cause__`), and it carries the failure's SQLite error code."""

    def __init__(self, message: str, failure: BaseException | None = None) -> None:
        super().__init__(message)
        if failure is not None:
            self.__cause__ = failure
            for code in ("sqlite_errorcode", "sqlite_errorname"):
                if hasattr(failure, code):
                    setattr(self, code, getattr(failure, code))


class ConnectionClosed(sqlite3.ProgrammingError):
    """The connection was closed: nothing more runs on it."""
