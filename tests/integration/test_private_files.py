"""The embedded back end's data directory is private: created 0700, every file in it
0600 (SQLite's WAL and SHM included), whatever the umask; start-up warns about an
existing file that is more open."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.sqlite.eventstore import SqliteEventStore
from adapters.sqlite.snapshots import SqliteSnapshotStore
from adapters.whatsapp.sandbox import SandboxChannel
from contracts.envelope import Actor, NewEvent
from contracts.events.session import SessionStarted
from projections.catalogue import OWNERS
from tests.unit.event_examples import EXAMPLES


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The umask of a careless shell: everything readable by everyone."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_the_data_directory_and_every_file_in_it_are_private(tmp_path: Path) -> None:
    data = tmp_path / "var"
    store = SqliteEventStore(data / "switchboard.db")
    snapshots = SqliteSnapshotStore(data / "switchboard.db", OWNERS)
    SandboxChannel(data / "sandbox-outbox.jsonl")
    try:
        store.append("session-s1", [opened()], expected_version=0)
        files = sorted(p.name for p in data.iterdir())
        assert {"switchboard.db", "switchboard.db-wal", "switchboard.db-shm"} <= set(files)
        assert mode(data) == 0o700
        assert {name: mode(data / name) for name in files} == {name: 0o600 for name in files}
    finally:
        snapshots.close()
        store.close()


def test_start_up_warns_about_a_file_others_may_read(tmp_path: Path) -> None:
    data = tmp_path / "var"
    SqliteEventStore(data / "switchboard.db").close()
    (data / "switchboard.db").chmod(0o644)
    env = {**os.environ, "SWITCHBOARD_DATA_DIR": str(data), "SWITCHBOARD_BACKEND": "embedded"}
    ran = subprocess.run(
        [sys.executable, "-m", "app.cli", "events", "stats"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "data_file_too_open" in ran.stderr, ran.stderr
    assert f"chmod 600 {data / 'switchboard.db'}" in ran.stderr
    quiet = subprocess.run(
        [sys.executable, "-m", "app.cli", "events", "stats"],
        env={**env, "SWITCHBOARD_DATA_DIR": str(tmp_path / "fresh")},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "data_file_too_open" not in quiet.stderr, quiet.stderr


def opened() -> NewEvent:
    [example] = [event for event in EXAMPLES if isinstance(event, SessionStarted)]
    return NewEvent.of(
        example, event_id="e-1", occurred_at=datetime.now(UTC), actor=Actor.SYSTEM,
        correlation_id="c",
    )  # fmt: skip
