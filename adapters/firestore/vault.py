"""The `Vault` on Firestore: `{prefix}contacts/{from_hash}` holds one encrypted number.

Forgetting deletes the document. Firestore keeps no readable copy of a deleted
document, except in backups and point-in-time recovery, which expire on their own
schedule (see docs/privacy.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from google.api_core.exceptions import (
    NotFound,
)
from google.cloud import firestore
from google.cloud.firestore_v1.base_document import DocumentSnapshot
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.document import DocumentReference

from adapters.crypto.cipher import VaultCipher, check_from_hash
from adapters.crypto.keyring import Ciphertext, Keyring
from adapters.crypto.rotation import Tally, rotate_entry
from adapters.firestore.transient import retrying
from contracts.ports.vault import Progress, RotationReport, SealBroken

_PAGE = 300


# Every Firestore call here may be retried (`retrying`): a set writes the same entry, a
# delete or a compare-and-set finds its work done.


class FirestoreVault:
    def __init__(
        self,
        client: firestore.Client,
        hash_key: bytes,
        keyring: Keyring,
        collection_prefix: str = "",
    ) -> None:
        self._cipher = VaultCipher(hash_key, keyring)
        self._client = client
        self._contacts = client.collection(f"{collection_prefix}contacts")

    def contact_hash(self, identity: str) -> str:
        return self._cipher.contact_hash(identity)

    def message_ref(self, wa_message_id: str) -> str:
        return self._cipher.message_ref(wa_message_id)

    def remember(self, from_hash: str, e164: str) -> None:
        """Writes only when the entry is missing, stale or different."""
        ref = self._contacts.document(check_from_hash(from_hash))
        stored = _read(ref)
        if stored is not None and self._cipher.is_current(stored):
            try:
                if self._cipher.decrypt_number(from_hash, stored) == e164:
                    return
            except SealBroken:
                pass  # a broken entry is repaired by writing it afresh
        fields = _fields(self._cipher.encrypt_number(from_hash, e164))
        retrying(partial(ref.set, fields))

    def reveal(self, from_hash: str) -> str | None:
        ref = self._contacts.document(check_from_hash(from_hash))
        stored = _read(ref)
        return None if stored is None else self._cipher.decrypt_number(from_hash, stored)

    def forget(self, from_hash: str) -> bool:
        ref = self._contacts.document(check_from_hash(from_hash))
        try:
            retrying(partial(ref.delete, option=self._client.write_option(exists=True)))
        except NotFound:
            return False
        return True

    def rotate(self, progress: Progress | None = None) -> RotationReport:
        counting: Any = self._contacts.order_by("__name__").count()  # annotated wrongly
        tally = Tally(int(retrying(counting.get)[0][0].value), progress)
        after: DocumentReference | None = None
        while snapshots := self._page(after):
            for snapshot in snapshots:
                ref = snapshot.reference
                outcome = rotate_entry(
                    self._cipher,
                    snapshot.id,
                    _ciphertext(snapshot),
                    read=partial(_read, ref),
                    replace=partial(self._replace, ref),
                )
                tally.count(outcome)
            after = snapshots[-1].reference
        return tally.report()

    def seal(self, data: bytes) -> bytes:
        return self._cipher.seal(data)

    def unseal(self, sealed: bytes) -> bytes:
        return self._cipher.unseal(sealed)

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if callable(close):
            close()

    def _page(self, after: DocumentReference | None) -> list[DocumentSnapshot[Any]]:
        query = self._contacts.order_by("__name__").limit(_PAGE)
        if after is not None:
            query = query.where(filter=FieldFilter("__name__", ">", after))
        return retrying(lambda: list(query.stream()))

    def _replace(self, ref: DocumentReference, old: Ciphertext, new: Ciphertext) -> bool:
        """Compare-and-set in a transaction: write `new` only over `old`."""

        @firestore.transactional
        def swap(transaction: firestore.Transaction) -> bool:
            if _ciphertext(ref.get(transaction=transaction)) != old:
                return False
            transaction.update(ref, _fields(new))
            return True

        swapped: bool = retrying(lambda: swap(self._client.transaction()))
        return swapped


def _read(ref: DocumentReference) -> Ciphertext | None:
    return _ciphertext(retrying(ref.get))


def _fields(ciphertext: Ciphertext) -> dict[str, Any]:
    return {
        "key_id": ciphertext.key_id,
        "nonce": ciphertext.nonce,
        "ciphertext": ciphertext.data,
        "updated_at": datetime.now(UTC),
    }


def _ciphertext(snapshot: DocumentSnapshot[Any]) -> Ciphertext | None:
    data = snapshot.to_dict() if snapshot.exists else None
    if data is None:
        return None
    return Ciphertext(data["key_id"], bytes(data["nonce"]), bytes(data["ciphertext"]))
