"""The cryptography every vault adapter shares, so that back ends differ only in storage.

A contact's identity is encrypted with the contact's hash as associated data: a
ciphertext copied onto another contact's entry does not decrypt.

An entry holds the identity as JSON. An entry written before identities were sealed
whole holds only the E.164 number (it starts with `+`, JSON with `{`); it still opens,
and is rewritten as JSON the next time the contact writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import ValidationError

from adapters.crypto import sealing
from adapters.crypto.blind_index import name_token
from adapters.crypto.hashing import check_hash_key, contact_hash, message_ref
from adapters.crypto.keyring import Ciphertext, Keyring
from contracts.ports.vault import ContactIdentity, SealBroken
from contracts.search_terms import index_terms, words

_LABEL = b"switchboard/contact:"
_FROM_HASH = re.compile(r"[0-9a-f]{64}")
_LEGACY = b"+"


@dataclass(frozen=True)
class Opened:
    identity: ContactIdentity
    legacy: bool
    """Written before aliases existed: only the number, and no alias names the entry."""


class VaultCipher:
    def __init__(self, hash_key: bytes, keyring: Keyring) -> None:
        self._hash_key = check_hash_key(hash_key)
        self.keyring = keyring

    def contact_hash(self, identity: str) -> str:
        return contact_hash(self._hash_key, identity)

    def message_ref(self, wa_message_id: str) -> str:
        return message_ref(self._hash_key, wa_message_id)

    def name_tokens(self, name: str | None) -> frozenset[str]:
        """The blind index of a display name (`blind_index.py`)."""
        return frozenset(name_token(self._hash_key, term) for term in index_terms(name))

    def search_tokens(self, text: str) -> list[str]:
        """One token per word of a search, in order."""
        return [name_token(self._hash_key, word) for word in words(text)]

    def encrypt_identity(self, from_hash: str, identity: ContactIdentity) -> Ciphertext:
        plaintext = identity.model_dump_json(exclude_none=True).encode("utf-8")
        return self.keyring.encrypt(plaintext, _associated(from_hash))

    def decrypt_identity(self, from_hash: str, ciphertext: Ciphertext) -> Opened:
        """Raises `SealBroken` when the entry does not open (see `Keyring.decrypt`)."""
        plaintext = self.keyring.decrypt(ciphertext, _associated(from_hash))
        try:
            if plaintext.startswith(_LEGACY):
                return Opened(ContactIdentity(e164=plaintext.decode("ascii")), legacy=True)
            return Opened(ContactIdentity.model_validate_json(plaintext), legacy=False)
        except (ValidationError, UnicodeDecodeError):
            raise SealBroken("the entry opens but holds no contact identity") from None

    def reencrypt(self, from_hash: str, ciphertext: Ciphertext) -> Ciphertext:
        """The same plaintext under the newest key; raises `SealBroken`."""
        associated_data = _associated(from_hash)
        plaintext = self.keyring.decrypt(ciphertext, associated_data)
        return self.keyring.encrypt(plaintext, associated_data)

    def is_current(self, ciphertext: Ciphertext) -> bool:
        """Under the key that encrypts now: rotation leaves it alone."""
        return ciphertext.key_id == self.keyring.newest_key_id

    def seal(self, data: bytes) -> bytes:
        return sealing.seal(self.keyring, data)

    def unseal(self, sealed: bytes) -> bytes:
        return sealing.unseal(self.keyring, sealed)


def _associated(from_hash: str) -> bytes:
    return _LABEL + from_hash.encode("ascii")


def check_from_hash(from_hash: str) -> str:
    """`from_hash` itself: 64 lowercase hex characters, also a safe document name."""
    if not _FROM_HASH.fullmatch(from_hash):
        raise ValueError("a from_hash is 64 lowercase hex characters (see Vault.contact_hash)")
    return from_hash
