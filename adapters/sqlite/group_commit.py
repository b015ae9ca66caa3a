"""Group commit: concurrent writers share one transaction and one fsync.

A writer queues its work. If no group is being committed, it becomes the leader: it
takes every queued piece of work, runs each in its own savepoint inside one
transaction, commits once, and wakes the others. Writers that queued meanwhile sleep
until then; those whose work was in the group return, and one of the rest leads the
next group with everything that queued up behind it. A lone writer leads its own group
of one, so it pays no hand-off to a background thread.
"""

from __future__ import annotations

import sqlite3
import sys
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
        self._queue: list[_Work[Any]] = []

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` inside a write transaction and return once that transaction is
        durable. An exception from `fn` undoes only `fn`'s writes and is re-raised."""
        work = _Work(fn)
        with self._changed:
            self._queue.append(work)
            while self._leading and not work.done:
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
        if work.error is not None:
            raise work.error
        return work.value  # type: ignore[return-value]

    def _commit(self, group: list[_Work[Any]]) -> None:
        connection = self._connection
        committed = False
        try:
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
            committed = True
        finally:
            if not committed and not (len(group) == 1 and group[0].error is not None):
                # nobody's work is durable: every writer must hear so
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                failure = sys.exc_info()[1]
                for work in group:
                    work.value = None
                    work.error = GroupCommitFailed(f"the write transaction failed: {failure!r}")
            for work in group:
                work.done = True


class GroupCommitFailed(Exception):
    """The shared transaction could not commit (disk full, I/O error...)."""
