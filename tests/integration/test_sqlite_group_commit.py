"""Group commit on a real SQLite file: concurrent writers share commits, one
writer's failure undoes only its own writes, a failed commit fails every writer, and
closing lets the group under way finish."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from adapters.sqlite.connection import connect
from adapters.sqlite.group_commit import ConnectionClosed, GroupCommitFailed, GroupCommitter


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


class FailingDisk(sqlite3.Connection):
    """Once `failing` is set, the next COMMIT fails, and so does the ROLLBACK after it."""

    failing = False

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if self.failing and sql in ("COMMIT", "ROLLBACK"):
            self.failing = sql == "COMMIT"
            raise sqlite3.OperationalError(f"disk I/O error ({sql})")
        return super().execute(sql, *args)


def test_a_commit_that_fails_and_cannot_roll_back_fails_every_writer_of_its_group(
    tmp_path: Path,
) -> None:
    connection = sqlite3.connect(tmp_path / "g.db", isolation_level=None,
                                 check_same_thread=False, factory=FailingDisk)  # fmt: skip
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE t (writer TEXT)")
    committer = GroupCommitter(connection)
    leading, release = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def insert(
        name: str, then: Callable[[], object] = lambda: None
    ) -> Callable[[sqlite3.Connection], str]:
        def work(c: sqlite3.Connection) -> str:
            c.execute("INSERT INTO t VALUES (?)", (name,))
            then()
            return name

        return work

    def write(name: str, work: Callable[[sqlite3.Connection], str]) -> None:
        try:
            outcomes[name] = committer.run(work)
        except Exception as error:
            outcomes[name] = error

    def hold() -> None:  # A leads while B and C queue up behind it
        leading.set()
        release.wait(timeout=5)

    def fail_the_commit() -> None:
        connection.failing = True

    writers = [threading.Thread(target=write, args=("A", insert("A", then=hold)))]
    writers[0].start()
    leading.wait(timeout=5)
    for name, then in (("B", fail_the_commit), ("C", lambda: None)):
        writers.append(threading.Thread(target=write, args=(name, insert(name, then))))
        writers[-1].start()
    time.sleep(0.3)  # B and C wait for A: they will form the next group together
    release.set()
    for writer in writers:
        writer.join(timeout=10)

    def committed() -> set[str]:
        with closing(connect(tmp_path / "g.db")) as reader:
            return {writer for (writer,) in reader.execute("SELECT writer FROM t")}

    rows = committed()
    assert outcomes["A"] == "A"
    assert isinstance(outcomes["B"], GroupCommitFailed)
    # what a writer alone would have seen: SQLite's error, its message and code
    assert isinstance(outcomes["B"], sqlite3.OperationalError)
    assert "disk I/O error (COMMIT)" in str(outcomes["B"])
    for name in ("B", "C"):  # C failed with B, or (had it come late) committed alone
        if isinstance(outcomes[name], GroupCommitFailed):
            assert name not in rows
        else:
            assert (outcomes[name], name in rows) == (name, True)
    assert committer.run(insert("D")) == "D"  # the next group starts clean
    assert committed() == rows | {"D"}


def test_close_lets_the_group_under_way_commit_and_refuses_the_work_queued_behind_it(
    tmp_path: Path,
) -> None:
    connection = connect(tmp_path / "g.db")
    connection.execute("CREATE TABLE t (writer TEXT)")
    committer = GroupCommitter(connection)
    leading, release = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def held(c: sqlite3.Connection) -> str:
        c.execute("INSERT INTO t VALUES ('A')")
        leading.set()
        release.wait(timeout=5)
        return "A"

    def write(name: str, work: Callable[[sqlite3.Connection], object]) -> None:
        try:
            outcomes[name] = committer.run(work)
        except Exception as error:
            outcomes[name] = error

    first = threading.Thread(target=write, args=("A", held))
    first.start()
    assert leading.wait(timeout=5)
    queued = threading.Thread(target=write, args=("B", lambda c: c.execute("SELECT 1")))
    queued.start()
    time.sleep(0.2)  # B waits behind A
    closing_ = threading.Thread(target=committer.close)
    closing_.start()
    time.sleep(0.2)
    assert closing_.is_alive()  # close waits for A's transaction
    release.set()
    for thread in (first, queued, closing_):
        thread.join(timeout=10)

    assert outcomes["A"] == "A"
    assert isinstance(outcomes["B"], ConnectionClosed)
    with pytest.raises(ConnectionClosed):
        committer.run(lambda c: None)
    committer.close()  # idempotent
    with closing(connect(tmp_path / "g.db")) as reader:
        assert reader.execute("SELECT writer FROM t").fetchall() == [("A",)]
