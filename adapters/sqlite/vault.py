"""The embedded `Vault`: `contacts` (one sealed identity per contact) and
`contact_aliases` (hash of a number or BSUID → the contact) and `contact_names` (the blind
index of display names: `adapters/crypto/blind_index.py`) in the back end's SQLite file.

Forgetting must leave nothing behind in the file. A plain DELETE only marks the row's
bytes free; they stay in the page, and in the write-ahead log, until overwritten. So
every write that drops or replaces a ciphertext (forget, rotate, a changed identity) goes
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
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import structlog

from adapters.crypto import contact_sealing
from adapters.crypto.cipher import VaultCipher, check_from_hash
from adapters.crypto.contacts import Change, ContactBook
from adapters.crypto.keyring import Ciphertext, Keyring
from adapters.crypto.rotation import Tally, rotate_entry
from adapters.sqlite.connection import connect
from adapters.sqlite.database import Readers, open_writer
from contracts.ports.vault import ContactIdentity, Progress, RotationReport

log = structlog.get_logger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS contacts (
    from_hash  TEXT PRIMARY KEY,
    key_id     TEXT NOT NULL,
    nonce      BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS contact_aliases (
    alias_hash TEXT PRIMARY KEY,
    from_hash  TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS contact_aliases_by_contact ON contact_aliases (from_hash);

CREATE TABLE IF NOT EXISTS contact_names (
    token     TEXT NOT NULL,
    from_hash TEXT NOT NULL,
    PRIMARY KEY (token, from_hash)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS contact_names_by_contact ON contact_names (from_hash);
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

    def remember(self, seen: ContactIdentity) -> str:
        """Writes only when something changed: an inbound message from a known contact
        costs reads, not an fsync."""
        with self._readers.connection() as reader:
            change = _book(self._cipher, reader).remember(seen)
        if change.nothing:
            return change.from_hash
        if not change.existed and not change.drop:
            written = self._writer.run(partial(_remember_new, self._cipher, seen))
            if written is not None:
                return written
        with self._lock:  # may replace a ciphertext: through the connection that zeroes it
            again = self._in_transaction(lambda book: book.remember(seen))
        assert again is not None
        return again.from_hash

    def contact_of(self, seen: ContactIdentity) -> str | None:
        with self._readers.connection() as reader:
            return _book(self._cipher, reader).find(seen)

    def contacts_named(self, text: str, limit: int) -> list[str]:
        tokens = self._cipher.search_tokens(text)
        if not tokens:
            return []
        marks = " INTERSECT ".join(
            ["SELECT from_hash FROM contact_names WHERE token = ?"] * len(tokens)
        )
        with self._readers.connection() as reader:
            rows = reader.execute(f"{marks} ORDER BY from_hash LIMIT ?", (*tokens, limit))
            return [str(from_hash) for (from_hash,) in rows]

    def change_number(self, from_hash: str, e164: str) -> bool:
        check_from_hash(from_hash)
        with self._lock:
            change = self._in_transaction(lambda book: book.change_number(from_hash, e164))
        return change is not None

    def change_user_id(self, from_hash: str, bsuid: str, parent_user_id: str | None = None) -> bool:
        check_from_hash(from_hash)
        with self._lock:
            change = self._in_transaction(
                lambda book: book.change_user_id(from_hash, bsuid, parent_user_id)
            )
        return change is not None

    def reveal(self, from_hash: str) -> ContactIdentity | None:
        stored = self._read(check_from_hash(from_hash))
        if stored is None:
            return None
        return self._cipher.decrypt_identity(from_hash, stored).identity

    def forget(self, from_hash: str) -> bool:
        check_from_hash(from_hash)
        with self._lock:
            connection = self._connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.execute("DELETE FROM contact_aliases WHERE from_hash = ?", (from_hash,))
                connection.execute("DELETE FROM contact_names WHERE from_hash = ?", (from_hash,))
                deleted = connection.execute(
                    "DELETE FROM contacts WHERE from_hash = ?", (from_hash,)
                ).rowcount
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            self._checkpoint()
        return bool(deleted)

    def _in_transaction(self, decide: Callable[[ContactBook], Change | None]) -> Change | None:
        """`decide` over this connection's view, applied in the same transaction.
        The caller holds the lock."""
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            change = decide(_book(self._cipher, connection))
            if change is not None:
                _apply(change, connection)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return change

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

    def seal_for(self, from_hash: str, data: bytes) -> bytes | None:
        key = self._sealing_key(check_from_hash(from_hash))
        return None if key is None else contact_sealing.seal_for(key, from_hash, data)

    def unseal_for(self, from_hash: str, sealed: bytes) -> bytes | None:
        return contact_sealing.open_for(self.reveal(from_hash), from_hash, sealed)

    def _sealing_key(self, from_hash: str) -> str | None:
        """The contact's key; the first one is written in a transaction of its own."""
        with self._readers.connection() as reader:
            found = _book(self._cipher, reader).with_sealing_key(from_hash)
        if found is None or found.nothing:
            return None if found is None else found.identity.sealing_key
        with self._lock:
            made = self._in_transaction(lambda book: book.with_sealing_key(from_hash))
        return None if made is None else made.identity.sealing_key

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


def _book(cipher: VaultCipher, connection: sqlite3.Connection) -> ContactBook:
    def alias(alias_hash: str) -> str | None:
        row = connection.execute(
            "SELECT from_hash FROM contact_aliases WHERE alias_hash = ?", (alias_hash,)
        ).fetchone()
        return None if row is None else str(row[0])

    def entry(from_hash: str) -> Ciphertext | None:
        row = connection.execute(
            "SELECT key_id, nonce, ciphertext FROM contacts WHERE from_hash = ?", (from_hash,)
        ).fetchone()
        return None if row is None else Ciphertext(row[0], bytes(row[1]), bytes(row[2]))

    return ContactBook(cipher, alias, entry)


def _remember_new(
    cipher: VaultCipher, seen: ContactIdentity, connection: sqlite3.Connection
) -> str | None:
    """In the shared writer's transaction: a contact that replaces nothing is written;
    None when the vault now holds something it would replace."""
    change = _book(cipher, connection).remember(seen)
    if change.existed or change.drop:
        return None
    _apply(change, connection)
    return change.from_hash


def _apply(change: Change, connection: sqlite3.Connection) -> None:
    if change.entry is not None:
        sealed = change.entry
        connection.execute(
            "INSERT INTO contacts (from_hash, key_id, nonce, ciphertext, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (from_hash) DO UPDATE SET "
            "key_id = excluded.key_id, nonce = excluded.nonce, "
            "ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
            (change.from_hash, sealed.key_id, sealed.nonce, sealed.data, _now()),
        )
    for alias_hash in change.drop:
        connection.execute(
            "DELETE FROM contact_aliases WHERE alias_hash = ? AND from_hash = ?",
            (alias_hash, change.from_hash),
        )
    for alias_hash in change.point:
        connection.execute(
            "INSERT INTO contact_aliases (alias_hash, from_hash) VALUES (?, ?) "
            "ON CONFLICT (alias_hash) DO UPDATE SET from_hash = excluded.from_hash",
            (alias_hash, change.from_hash),
        )
    connection.executemany(
        "DELETE FROM contact_names WHERE token = ? AND from_hash = ?",
        [(token, change.from_hash) for token in change.unnamed],
    )
    connection.executemany(
        "INSERT INTO contact_names (token, from_hash) VALUES (?, ?) ON CONFLICT DO NOTHING",
        [(token, change.from_hash) for token in change.names],
    )


def _now() -> str:
    return datetime.now(UTC).isoformat()
