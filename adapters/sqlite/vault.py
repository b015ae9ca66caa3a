"""The embedded `Vault`: a `contacts` table in the back end's SQLite file.

Forgetting must leave nothing behind in the file. A plain DELETE only marks the row's
bytes free; they stay in the page, and in the write-ahead log, until overwritten. So
every write that drops or replaces a ciphertext (forget, rotate, a changed number) goes
through this vault's own connection, which runs with `secure_delete` (freed bytes are
zeroed), and a forget ends with a TRUNCATE checkpoint: the zeroed page replaces the old
one in the database file and the log that still held the old one is emptied.

A new contact's entry replaces nothing, so it goes through the file's shared writer
(`adapters/sqlite/database.py`), where concurrent webhooks share a transaction and an
fsync instead of queueing for one each. Reads use their own connections.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import structlog

from adapters.crypto.cipher import VaultCipher, check_from_hash
from adapters.crypto.keyring import Ciphertext, Keyring
from adapters.crypto.rotation import Tally, rotate_entry
from adapters.sqlite.connection import connect
from adapters.sqlite.database import Readers, open_writer
from contracts.ports.vault import Progress, RotationReport, SealBroken

log = structlog.get_logger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS contacts (
    from_hash  TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;
"""

_PAGE = 500


class SqliteVault:
    def __init__(self, path: str | Path, hash_key: bytes, keyring: Keyring) -> None:
        self._cipher = VaultCipher(hash_key, keyring)
        self._connection = connect(path)
        self._connection.execute("PRAGMA secure_delete=ON")
        self._connection.executescript(SCHEMA)
        self._lock = threading.Lock()
        self._writer = open_writer(path)
        self._readers = Readers(path)

    def contact_hash(self, identity: str) -> str:
        return self._cipher.contact_hash(identity)

    def message_ref(self, wa_message_id: str) -> str:
        return self._cipher.message_ref(wa_message_id)

    def remember(self, from_hash: str, e164: str) -> None:
        """Writes only when the entry is missing, stale or different: an inbound
        message from a known contact costs a read, not an fsync."""
        stored = self._read(check_from_hash(from_hash))
        if stored is not None and self._cipher.is_current(stored):
            try:
                if self._cipher.decrypt_number(from_hash, stored) == e164:
                    return
            except SealBroken:
                pass  # a broken entry is repaired by writing it afresh
        sealed = self._cipher.encrypt_number(from_hash, e164)
        row = (from_hash, sealed.key_id, sealed.nonce, sealed.data, _now())
        if stored is None and self._writer.run(partial(_insert_new, row)):
            return
        with self._lock:  # replaces a ciphertext: through the connection that zeroes it
            self._connection.execute(
                "INSERT INTO contacts (from_hash, key_id, nonce, ciphertext, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (from_hash) DO UPDATE SET "
                "key_id = excluded.key_id, nonce = excluded.nonce, "
                "ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
                row,
            )

    def reveal(self, from_hash: str) -> str | None:
        stored = self._read(check_from_hash(from_hash))
        return None if stored is None else self._cipher.decrypt_number(from_hash, stored)

    def forget(self, from_hash: str) -> bool:
        with self._lock:
            deleted = self._connection.execute(
                "DELETE FROM contacts WHERE from_hash = ?", (check_from_hash(from_hash),)
            ).rowcount
            if deleted:
                self._checkpoint()
        return bool(deleted)

    def rotate(self, progress: Progress | None = None) -> RotationReport:
        with self._lock:
            (total,) = self._connection.execute("SELECT count(*) FROM contacts").fetchone()
        tally = Tally(total, progress)
        after = ""
        while page := self._page(after):
            for from_hash, seen in page:
                tally.count(
                    rotate_entry(
                        self._cipher,
                        from_hash,
                        seen,
                        read=partial(self._read, from_hash),
                        replace=partial(self._replace, from_hash),
                    )
                )
            after = page[-1][0]
        return tally.report()

    def seal(self, data: bytes) -> bytes:
        return self._cipher.seal(data)

    def unseal(self, sealed: bytes) -> bytes:
        return self._cipher.unseal(sealed)

    def close(self) -> None:
        with self._lock:
            self._connection.close()
        self._readers.close()
        self._writer.close()

    def _read(self, from_hash: str) -> Ciphertext | None:
        with self._readers.connection() as reader:
            row = reader.execute(
                "SELECT key_id, nonce, ciphertext FROM contacts WHERE from_hash = ?", (from_hash,)
            ).fetchone()
        return None if row is None else Ciphertext(row[0], bytes(row[1]), bytes(row[2]))

    def _page(self, after: str) -> list[tuple[str, Ciphertext]]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT from_hash, key_id, nonce, ciphertext FROM contacts "
                "WHERE from_hash > ? ORDER BY from_hash LIMIT ?",
                (after, _PAGE),
            ).fetchall()
        return [(row[0], Ciphertext(row[1], bytes(row[2]), bytes(row[3]))) for row in rows]

    def _replace(self, from_hash: str, old: Ciphertext, new: Ciphertext) -> bool:
        """Compare-and-set: write `new` only over `old`, untouched since it was read."""
        with self._lock:
            return bool(
                self._connection.execute(
                    "UPDATE contacts SET key_id = ?, nonce = ?, ciphertext = ?, updated_at = ? "
                    "WHERE from_hash = ? AND key_id = ? AND nonce = ? AND ciphertext = ?",
                    (
                        new.key_id,
                        new.nonce,
                        new.data,
                        _now(),
                        from_hash,
                        old.key_id,
                        old.nonce,
                        old.data,
                    ),
                ).rowcount
            )

    def _checkpoint(self) -> None:
        """Copy the log into the database file and empty it; busy when a reader in
        another connection still needs old pages, in which case the log is reused
        (and the stale copy overwritten) once they move on."""
        busy, _, _ = self._connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            log.warning("vault forget: checkpoint busy; the log is emptied on a later one")


def _insert_new(row: tuple[str, str, bytes, bytes, str], connection: sqlite3.Connection) -> bool:
    """Insert an entry that does not exist; False when one appeared meanwhile."""
    return bool(
        connection.execute(
            "INSERT INTO contacts (from_hash, key_id, nonce, ciphertext, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (from_hash) DO NOTHING",
            row,
        ).rowcount
    )


def _now() -> str:
    return datetime.now(UTC).isoformat()
