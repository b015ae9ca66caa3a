"""The embedded `OperatorDirectory`: a table in the event store's SQLite file.

One row per name. Re-adding a revoked name replaces its row, so the old token's digest
is gone with it. Each write is a single statement, atomic under SQLite's one writer:
two concurrent adds of a name cannot both win.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from adapters.credentials import check_operator_name, is_operator_name, mint_token, token_digest
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
    """Writes open a connection of their own (they are rare); `authenticate`, on every
    API request, reuses one read connection per thread."""

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
