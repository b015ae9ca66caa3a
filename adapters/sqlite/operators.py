"""The embedded `OperatorDirectory`: a table in the event store's SQLite file.

One row per name. Re-adding a revoked name replaces its row, so the old token's digest
is gone with it. A console session is a row of `console_sessions` keyed by the digest of
its id and joined to the operator through the digest of the token that opened it: a
revoked or replaced token matches no active row, so its sessions end with it. Each
write is a single statement, atomic under SQLite's one writer: two concurrent adds of a
name cannot both win.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.credentials import (
    check_operator_name,
    is_operator_name,
    mint_session_id,
    mint_token,
    session_digest,
    token_digest,
)
from adapters.sqlite.connection import connect
from contracts.operators import Operator, Role
from contracts.ports.operators import OperatorExists, UnknownOperator

SCHEMA = """
CREATE TABLE IF NOT EXISTS operators (
    name         TEXT PRIMARY KEY,
    role         TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
);
CREATE TABLE IF NOT EXISTS console_sessions (
    session_sha256 TEXT PRIMARY KEY,
    token_sha256   TEXT NOT NULL,
    operator       TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    last_seen_at   TEXT NOT NULL
);
"""

_COLUMNS = "name, role, created_at, revoked_at"
Row = tuple[str, str, str, str | None]

# Insert, or take over the row of a revoked operator; an active row stays as it is and
# the statement changes nothing.
_ADD = """
INSERT INTO operators (name, role, token_sha256, created_at, revoked_at)
VALUES (?, ?, ?, ?, NULL)
ON CONFLICT (name) DO UPDATE SET
    role = excluded.role,
    token_sha256 = excluded.token_sha256,
    created_at = excluded.created_at,
    revoked_at = NULL
WHERE operators.revoked_at IS NOT NULL
"""


class SqliteOperatorDirectory:
    """Writes to operators open a connection of their own (they are rare);
    `authenticate` and the console's sessions, on every request, reuse one connection
    per thread (autocommit: each statement commits on its own)."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._readers = threading.local()
        with closing(connect(self._path)) as connection:
            connection.executescript(SCHEMA)

    def add(self, name: str, role: Role) -> str:
        check_operator_name(name)
        token, digest = mint_token()
        created_at = datetime.now(UTC).isoformat()
        with closing(connect(self._path)) as connection:
            added = connection.execute(_ADD, (name, role.value, digest, created_at)).rowcount
        if not added:
            raise OperatorExists(f"operator {name!r} already exists; revoke it first")
        return token

    def authenticate(self, token: str) -> Operator | None:
        """Found by digest, not compared: see `token_digest` on why timing is safe."""
        digest = token_digest(token)
        if digest is None:
            return None
        row = (
            self._reader()
            .execute(
                f"SELECT {_COLUMNS} FROM operators WHERE token_sha256 = ? AND revoked_at IS NULL",
                (digest,),
            )
            .fetchone()
        )
        return None if row is None else _operator(row)

    def list(self) -> list[Operator]:
        rows = self._reader().execute(f"SELECT {_COLUMNS} FROM operators ORDER BY name")
        return [_operator(row) for row in rows]

    def revoke(self, name: str) -> Operator:
        rows: list[Row] = []
        if is_operator_name(name):
            with closing(connect(self._path)) as connection:
                # fetchall: the statement must run to its end for the change to commit
                rows = connection.execute(
                    "UPDATE operators SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL "
                    f"RETURNING {_COLUMNS}",
                    (datetime.now(UTC).isoformat(), name),
                ).fetchall()
        if not rows:
            raise UnknownOperator(f"no active operator is named {name!r}")
        return _operator(rows[0])

    def open_session(self, token: str, now: datetime) -> str | None:
        digest = token_digest(token)
        if digest is None:
            return None
        session_id, session_sha256 = mint_session_id()
        at = now.isoformat()
        with closing(connect(self._path)) as connection:
            opened = connection.execute(
                "INSERT INTO console_sessions "
                "SELECT ?, token_sha256, name, ?, ? FROM operators "
                "WHERE token_sha256 = ? AND revoked_at IS NULL",
                (session_sha256, at, at, digest),
            ).rowcount
        return session_id if opened else None

    def session(
        self, session_id: str, now: datetime, idle: timedelta, touch: bool = True
    ) -> Operator | None:
        digest = session_digest(session_id)
        if digest is None:
            return None
        row = (
            self._reader()
            .execute(
                "SELECT s.last_seen_at, o.name, o.role, o.created_at, o.revoked_at "
                "FROM console_sessions s JOIN operators o "
                "ON o.token_sha256 = s.token_sha256 AND o.revoked_at IS NULL "
                "WHERE s.session_sha256 = ?",
                (digest,),
            )
            .fetchone()
        )
        if row is None:
            return None
        if datetime.fromisoformat(row[0]) + idle < now:
            self.close_session(session_id)
            return None
        if touch:
            self._reader().execute(
                "UPDATE console_sessions SET last_seen_at = max(last_seen_at, ?) "
                "WHERE session_sha256 = ?",
                (now.isoformat(), digest),
            )
        return _operator(row[1:])

    def close_session(self, session_id: str) -> None:
        digest = session_digest(session_id)
        if digest is not None:
            self._reader().execute(
                "DELETE FROM console_sessions WHERE session_sha256 = ?", (digest,)
            )

    def _reader(self) -> sqlite3.Connection:
        reader: sqlite3.Connection | None = getattr(self._readers, "connection", None)
        if reader is None:
            reader = connect(self._path)
            self._readers.connection = reader
        return reader


def _operator(row: Row) -> Operator:
    name, role, created_at, revoked_at = row
    return Operator(
        name=name,
        role=Role(role),
        created_at=datetime.fromisoformat(created_at),
        revoked_at=None if revoked_at is None else datetime.fromisoformat(revoked_at),
    )
