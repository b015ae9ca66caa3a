"""One SQLite file holds the embedded back end: event store, bus and snapshots.

Durability is not negotiable: WAL with `synchronous=FULL` means a committed
transaction survives `kill -9` and a power loss. Throughput comes from group commit
(`group_commit.py`) through one writer per file in a process (`database.py`), not from
weaker settings. `SCHEMA` holds the tables written through that writer; the vault and
the operator directory, which write rarely, keep their own connections and tables.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from adapters.private_files import private_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    event_id       TEXT    NOT NULL UNIQUE,
    type           TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    occurred_at    TEXT    NOT NULL,
    recorded_at    TEXT    NOT NULL,
    correlation_id TEXT    NOT NULL,
    causation_id   TEXT,
    actor          TEXT    NOT NULL,
    payload        TEXT    NOT NULL,
    PRIMARY KEY (stream_id, version)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS bus_topics (
    name TEXT PRIMARY KEY
);

CREATE TABLE IF NOT EXISTS bus_subscriptions (
    name  TEXT PRIMARY KEY,
    topic TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bus_subscriptions_by_topic ON bus_subscriptions (topic);

CREATE TABLE IF NOT EXISTS bus_queue (
    id           INTEGER PRIMARY KEY,
    subscription TEXT    NOT NULL,
    data         BLOB    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    available_at REAL    NOT NULL,
    last_error   TEXT
);
CREATE INDEX IF NOT EXISTS bus_queue_ready ON bus_queue (subscription, available_at);

CREATE TABLE IF NOT EXISTS bus_dead_letters (
    id               INTEGER PRIMARY KEY,
    subscription     TEXT    NOT NULL,
    message_id       TEXT    NOT NULL,
    data             BLOB    NOT NULL,
    attempts         INTEGER NOT NULL,
    dead_lettered_at TEXT    NOT NULL,
    error            TEXT
);
CREATE INDEX IF NOT EXISTS bus_dead_letters_by_subscription
    ON bus_dead_letters (subscription, id);

-- The snapshot store's (see snapshots.py)
CREATE TABLE IF NOT EXISTS snapshot_docs (
    collection TEXT    NOT NULL,
    generation INTEGER NOT NULL,
    doc_id     TEXT    NOT NULL,
    data       TEXT    NOT NULL,
    PRIMARY KEY (collection, generation, doc_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS snapshot_positions (
    projection TEXT    NOT NULL,
    generation INTEGER NOT NULL,
    stream_id  TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    state      TEXT    NOT NULL,
    PRIMARY KEY (projection, generation, stream_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS snapshot_generations (
    projection TEXT    PRIMARY KEY,
    active     INTEGER NOT NULL,
    building   INTEGER
);
"""


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, fsync on
    every commit, and a generous busy timeout for writers in other processes. A new
    file is created private (`adapters.private_files`), and so are its WAL and SHM."""
    private_file(Path(path))
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    return connection


def create_schema(connection: sqlite3.Connection) -> None:
    connection.executescript(SCHEMA)
