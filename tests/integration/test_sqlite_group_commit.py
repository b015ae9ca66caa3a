"""Group commit on a real SQLite file: concurrent writers share commits, and one
writer's failure undoes only its own writes."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from adapters.sqlite.connection import connect
from adapters.sqlite.group_commit import GroupCommitter


class CountingConnection(sqlite3.Connection):
    commits = 0

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT":
            CountingConnection.commits += 1
        return super().execute(sql, *args)


def test_concurrent_writers_share_commits_and_failures_stay_their_own(tmp_path: Path) -> None:
    path = tmp_path / "g.db"
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                 factory=CountingConnection)  # fmt: skip
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("CREATE TABLE t (writer INTEGER, n INTEGER)")
    committer = GroupCommitter(connection)
    writers, per_writer = 8, 60
    failures: list[tuple[int, int]] = []
    start = threading.Barrier(writers)

    def insert(writer: int, n: int) -> None:
        def work(c: sqlite3.Connection) -> None:
            c.execute("INSERT INTO t VALUES (?, ?)", (writer, n))
            if n % 7 == 0:
                raise ValueError("this one fails after writing")

        try:
            committer.run(work)
        except ValueError:
            failures.append((writer, n))

    def write(writer: int) -> None:
        start.wait()
        for n in range(per_writer):
            insert(writer, n)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    CountingConnection.commits = 0
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    rows = set(connect(path).execute("SELECT writer, n FROM t").fetchall())
    expected_failures = {(w, n) for w in range(writers) for n in range(per_writer) if n % 7 == 0}
    assert set(failures) == expected_failures
    assert rows == {(w, n) for w in range(writers) for n in range(per_writer)} - expected_failures
    assert CountingConnection.commits < writers * per_writer / 2  # ~4 writes a commit here
