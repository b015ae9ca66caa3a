"""The `Vault` port: where a contact's phone number lives, and nowhere else.

Everything outside the vault knows a contact only by `from_hash`, an HMAC-SHA256 of the
normalised identity under the project's `PII_HASH_KEY`. The vault keeps the E.164
number encrypted with AES-GCM under a key id, so keys rotate; forgetting a contact
erases its entry, and with it the only way back to the number (crypto-shredding).

Every adapter passes `tests/contract/test_vault.py` unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

Progress = Callable[[int, int], None]
"""Called with (done, total) while a long operation runs."""


class SealBroken(ValueError):
    """A ciphertext does not open: it was altered, belongs to another contact, or is
    under a key id the keyring lacks. Never retried: the same bytes fail the same way."""


@dataclass(frozen=True)
class RotationReport:
    """`total` entries seen: `reencrypted` moved to the newest key by this run;
    `already_current` needed nothing (under the newest key, or rewritten or erased by
    someone else meanwhile); `unreadable` could not be opened (see `SealBroken`) and
    were left as they are."""

    total: int
    reencrypted: int
    already_current: int
    unreadable: int = 0


class Vault(Protocol):
    def contact_hash(self, identity: str) -> str:
        """64 hex characters: the HMAC of a normalised identity (an E.164 number such
        as `+5511999990001`, or WhatsApp's business-scoped user id)."""
        ...

    def message_ref(self, wa_message_id: str) -> str:
        """64 hex characters naming a WhatsApp message in events: the HMAC of its id
        under the same key, in a separate domain. Deterministic, so a status or a
        redelivery finds its message; one-way, because an id holds a phone number."""
        ...

    def remember(self, from_hash: str, e164: str) -> None:
        """Keep the contact's number, encrypted under the newest key. Idempotent; a
        forgotten contact that writes again is remembered again."""
        ...

    def reveal(self, from_hash: str) -> str | None:
        """The number in clear, or None when unknown or forgotten. Callers audit it."""
        ...

    def forget(self, from_hash: str) -> bool:
        """Erase the entry so the number cannot be recovered; True if there was one."""
        ...

    def rotate(self, progress: Progress | None = None) -> RotationReport:
        """Re-encrypt every entry under the newest key."""
        ...

    def seal(self, data: bytes) -> bytes:
        """`data` encrypted under the newest key, self-describing: the blob carries its
        key id and nonce, so any vault holding that key opens it."""
        ...

    def unseal(self, sealed: bytes) -> bytes:
        """The data `seal` encrypted, under any key of the keyring; raises
        `SealBroken` for an altered blob or an unknown key id."""
        ...
