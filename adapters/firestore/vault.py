"""The `Vault` on Firestore: `{prefix}contacts/{from_hash}` holds one sealed identity,
`{prefix}contact_aliases/{alias_hash}` the contact a number's or BSUID's hash names,
`{prefix}contact_names/{token}:{from_hash}` the blind index of display names
(`adapters/crypto/blind_index.py`): one document per token and contact, so a token's
contacts are one range of names, in `from_hash` order, with no composite index.

Forgetting deletes the document. Firestore keeps no readable copy of a deleted
document, except in backups and point-in-time recovery, which expire on their own
schedule (see docs/privacy.md).
"""

from __future__ import annotations

from collections.abc import Callable
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

from adapters.crypto import contact_sealing
from adapters.crypto.cipher import VaultCipher, check_from_hash
from adapters.crypto.contacts import Change, ContactBook
from adapters.crypto.keyring import Ciphertext, Keyring
from adapters.crypto.rotation import Tally, rotate_entry
from adapters.firestore.transient import retrying
from contracts.ports.vault import ContactIdentity, Progress, RotationReport

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
        self._aliases = client.collection(f"{collection_prefix}contact_aliases")
        self._names = client.collection(f"{collection_prefix}contact_names")

    def contact_hash(self, identity: str) -> str:
        return self._cipher.contact_hash(identity)

    def message_ref(self, wa_message_id: str) -> str:
        return self._cipher.message_ref(wa_message_id)

    def remember(self, seen: ContactIdentity) -> str:
        """Writes only when something changed."""
        change = self._book(None).remember(seen)
        if change.nothing:
            return change.from_hash
        again = self._transact(lambda book: book.remember(seen))
        assert again is not None
        return again.from_hash

    def contact_of(self, seen: ContactIdentity) -> str | None:
        return self._book(None).find(seen)

    def contacts_named(self, text: str, limit: int) -> list[str]:
        """The first token's contacts, read in pages, kept when every other token names
        them too."""
        tokens = self._cipher.search_tokens(text)
        found: list[str] = []
        last: DocumentSnapshot[Any] | None = None
        while tokens and len(found) < limit:
            query: Any = self._names.where(filter=FieldFilter("token", "==", tokens[0]))
            query = query.order_by("__name__").limit(_PAGE)
            if last is not None:
                query = query.start_after(last)
            page: list[DocumentSnapshot[Any]] = retrying(partial(_listed, query))
            if not page:
                break
            candidates = [str(snapshot.get("from_hash")) for snapshot in page]
            found += [h for h in candidates if all(self._named(t, h) for t in tokens[1:])]
            last = page[-1]
        return found[:limit]

    def _named(self, token: str, from_hash: str) -> bool:
        return bool(retrying(self._names.document(f"{token}:{from_hash}").get).exists)

    def change_number(self, from_hash: str, e164: str) -> bool:
        check_from_hash(from_hash)
        return self._transact(lambda book: book.change_number(from_hash, e164)) is not None

    def change_user_id(self, from_hash: str, bsuid: str, parent_user_id: str | None = None) -> bool:
        check_from_hash(from_hash)
        changed = self._transact(lambda book: book.change_user_id(from_hash, bsuid, parent_user_id))
        return changed is not None

    def reveal(self, from_hash: str) -> ContactIdentity | None:
        ref = self._contacts.document(check_from_hash(from_hash))
        stored = _read(ref)
        if stored is None:
            return None
        return self._cipher.decrypt_identity(from_hash, stored).identity

    def forget(self, from_hash: str) -> bool:
        """Aliases first: a forget cut short leaves the entry, and running it again
        finishes it."""
        ref = self._contacts.document(check_from_hash(from_hash))
        for collection in (self._aliases, self._names):
            naming = collection.where(filter=FieldFilter("from_hash", "==", from_hash))
            for alias in retrying(partial(_listed, naming)):
                retrying(alias.reference.delete)
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

    def seal_for(self, from_hash: str, data: bytes) -> bytes | None:
        key = self._sealing_key(check_from_hash(from_hash))
        return None if key is None else contact_sealing.seal_for(key, from_hash, data)

    def unseal_for(self, from_hash: str, sealed: bytes) -> bytes | None:
        return contact_sealing.open_for(self.reveal(from_hash), from_hash, sealed)

    def _sealing_key(self, from_hash: str) -> str | None:
        """The contact's key; the first one is written in a transaction."""
        found = self._book(None).with_sealing_key(from_hash)
        if found is None or found.nothing:
            return None if found is None else found.identity.sealing_key
        made = self._transact(lambda book: book.with_sealing_key(from_hash))
        return None if made is None else made.identity.sealing_key

    def close(self) -> None:
        close = getattr(self._client, "close", None)
        if callable(close):
            close()

    def _book(self, transaction: firestore.Transaction | None) -> ContactBook:
        def alias(alias_hash: str) -> str | None:
            snapshot = retrying(
                partial(self._aliases.document(alias_hash).get, transaction=transaction)
            )
            data = snapshot.to_dict() if snapshot.exists else None
            return None if data is None else str(data["from_hash"])

        def entry(from_hash: str) -> Ciphertext | None:
            ref = self._contacts.document(from_hash)
            return _ciphertext(retrying(partial(ref.get, transaction=transaction)))

        return ContactBook(self._cipher, alias, entry)

    def _transact(self, decide: Callable[[ContactBook], Change | None]) -> Change | None:
        """`decide` over a transaction's reads, its change written in the same one."""

        @firestore.transactional
        def run(transaction: firestore.Transaction) -> Change | None:
            book = self._book(transaction)
            change = decide(book)
            if change is not None:
                # every read before the first write, as Firestore transactions require
                mine = [h for h in change.drop if book.named(h) == change.from_hash]
                self._apply(transaction, change, mine)
            return change

        changed: Change | None = retrying(lambda: run(self._client.transaction()))
        return changed

    def _apply(self, transaction: firestore.Transaction, change: Change, drop: list[str]) -> None:
        if change.entry is not None:
            transaction.set(self._contacts.document(change.from_hash), _fields(change.entry))
        for alias_hash in drop:
            if alias_hash not in change.point:
                transaction.delete(self._aliases.document(alias_hash))
        for alias_hash in change.point:
            transaction.set(
                self._aliases.document(alias_hash),
                {"from_hash": change.from_hash, "updated_at": datetime.now(UTC)},
            )
        for token in change.unnamed:
            transaction.delete(self._names.document(f"{token}:{change.from_hash}"))
        for token in change.names:
            transaction.set(self._names.document(f"{token}:{change.from_hash}"),
                            {"token": token, "from_hash": change.from_hash})  # fmt: skip

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


def _listed(query: Any) -> list[DocumentSnapshot[Any]]:
    return list(query.stream())


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
