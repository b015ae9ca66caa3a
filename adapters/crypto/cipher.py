"""The cryptography every vault adapter shares, so that back ends differ only in storage.

A contact's number is encrypted with the contact's hash as associated data: a
ciphertext copied onto another contact's entry does not decrypt.
"""

from __future__ import annotations

import re

from adapters.crypto import sealing
from adapters.crypto.hashing import check_hash_key, contact_hash, message_ref
from adapters.crypto.keyring import Ciphertext, Keyring

_LABEL = b"switchboard/contact:"
_FROM_HASH = re.compile(r"[0-9a-f]{64}")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class VaultCipher:
    def __init__(self, hash_key: bytes, keyring: Keyring) -> None:
        self._hash_key = check_hash_key(hash_key)
        self.keyring = keyring

    def contact_hash(self, identity: str) -> str:
        return contact_hash(self._hash_key, identity)

    def message_ref(self, wa_message_id: str) -> str:
        return message_ref(self._hash_key, wa_message_id)

    def encrypt_number(self, from_hash: str, e164: str) -> Ciphertext:
        if not _E164.fullmatch(e164):
            raise ValueError("the vault keeps normalised E.164 numbers (+ and 7-15 digits)")
        return self.keyring.encrypt(e164.encode("ascii"), _LABEL + from_hash.encode("ascii"))

    def decrypt_number(self, from_hash: str, ciphertext: Ciphertext) -> str:
        """Raises `SealBroken` when the entry does not open (see `Keyring.decrypt`)."""
        associated_data = _LABEL + from_hash.encode("ascii")
        return self.keyring.decrypt(ciphertext, associated_data).decode("ascii")

    def is_current(self, ciphertext: Ciphertext) -> bool:
        """Under the key that encrypts now: rotation leaves it alone."""
        return ciphertext.key_id == self.keyring.newest_key_id

    def seal(self, data: bytes) -> bytes:
        return sealing.seal(self.keyring, data)

    def unseal(self, sealed: bytes) -> bytes:
        return sealing.unseal(self.keyring, sealed)


def check_from_hash(from_hash: str) -> str:
    """`from_hash` itself: 64 lowercase hex characters, also a safe document name."""
    if not _FROM_HASH.fullmatch(from_hash):
        raise ValueError("a from_hash is 64 lowercase hex characters (see Vault.contact_hash)")
    return from_hash
