"""Which contact an identity names, and what remembering it changes: the same decisions
on every back end, which differ only in how they read and write.

Storage: one entry per contact (`from_hash` → sealed identity) and one alias per
address (hash of the number or BSUID → `from_hash`). An entry written before aliases
existed (`Opened.legacy`) has no alias: its own `from_hash`, the hash of the identity
it was keyed by, names it until the contact next writes and the entry is rewritten.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from adapters.crypto.cipher import Opened, VaultCipher
from adapters.crypto.contact_sealing import new_sealing_key
from adapters.crypto.keyring import Ciphertext
from contracts.ports.vault import ContactIdentity, SealBroken

Aliases = Callable[[str], str | None]
"""The `from_hash` an alias hash names, if any."""
Entries = Callable[[str], Ciphertext | None]
"""The entry of a `from_hash`, if any."""

_NEW_KEY_ATTEMPTS = 100


@dataclass(frozen=True)
class Change:
    """What to write so that the vault holds `identity` under `from_hash`."""

    from_hash: str
    identity: ContactIdentity
    entry: Ciphertext | None
    """The entry's new ciphertext; None when the stored one stays."""
    existed: bool
    """An entry was stored: writing `entry` replaces a ciphertext."""
    point: tuple[str, ...]
    """Alias hashes to point at `from_hash` (new, or naming another contact)."""
    drop: tuple[str, ...]
    """Alias hashes of replaced addresses: they stop naming `from_hash`."""
    names: frozenset[str] = frozenset()
    """Name tokens (`blind_index.py`) to point at `from_hash`: its display name's, when
    the entry is written and the name is new or changed."""
    unnamed: frozenset[str] = frozenset()
    """Name tokens of the name it had, which stop naming it."""

    @property
    def nothing(self) -> bool:
        return self.entry is None and not self.point and not self.drop


class ContactBook:
    """Decides over `aliases` and `entries`, read in one transaction (or outside one,
    for a fast path that writes nothing)."""

    def __init__(self, cipher: VaultCipher, aliases: Aliases, entries: Entries) -> None:
        self._cipher = cipher
        self._aliases = aliases
        self._entries = entries

    def named(self, alias_hash: str) -> str | None:
        """The contact an alias hash names, if one does."""
        return self._aliases(alias_hash)

    def find(self, seen: ContactIdentity) -> str | None:
        """The contact the BSUID names, else the one the number names."""
        for alias in seen.aliases:
            alias_hash = self._cipher.contact_hash(alias)
            named = self._aliases(alias_hash)
            if named is not None:
                return named
            if self._legacy(alias_hash):
                return alias_hash
        return None

    def remember(self, seen: ContactIdentity) -> Change:
        from_hash = self.find(seen) or self._new_key(seen)
        return self._merge(from_hash, self._open(from_hash), seen)

    def change_number(self, from_hash: str, e164: str) -> Change | None:
        """None when the vault does not know `from_hash`."""
        stored = self._open(from_hash)
        if stored is None:
            return None
        moved = ContactIdentity.model_validate(stored.identity.model_dump() | {"e164": e164})
        return self._merge(from_hash, stored, moved)

    def change_user_id(
        self, from_hash: str, bsuid: str, parent_user_id: str | None
    ) -> Change | None:
        """None when the vault does not know `from_hash`."""
        stored = self._open(from_hash)
        if stored is None:
            return None
        new = {"bsuid": bsuid} | ({"parent_user_id": parent_user_id} if parent_user_id else {})
        moved = ContactIdentity.model_validate(stored.identity.model_dump() | new)
        return self._merge(from_hash, stored, moved)

    def with_sealing_key(self, from_hash: str) -> Change | None:
        """The contact with a sealing key: theirs, or a new one written into the entry.
        None when the vault does not know `from_hash`."""
        stored = self._open(from_hash)
        if stored is None:
            return None
        if stored.identity.sealing_key is not None:
            return self._merge(from_hash, stored, stored.identity)
        keyed = stored.identity.model_copy(update={"sealing_key": new_sealing_key()})
        return self._merge(from_hash, stored, keyed)

    def _merge(self, from_hash: str, stored: Opened | None, seen: ContactIdentity) -> Change:
        old = stored.identity if stored else None
        kept = old.model_dump(exclude_none=True) if old else {}
        merged = ContactIdentity.model_validate(kept | seen.model_dump(exclude_none=True))
        ciphertext = self._entries(from_hash)
        unchanged = (
            stored is not None
            and not stored.legacy
            and ciphertext is not None
            and self._cipher.is_current(ciphertext)
            and merged == old
        )
        point = tuple(
            alias_hash
            for alias in merged.aliases
            if self._aliases(alias_hash := self._cipher.contact_hash(alias)) != from_hash
        )
        replaced = (
            []
            if old is None
            else [
                before
                for before, after in ((old.e164, merged.e164), (old.bsuid, merged.bsuid))
                if before is not None and before != after
            ]
        )
        before = self._cipher.name_tokens(old.display_name if old else None)
        after = self._cipher.name_tokens(merged.display_name)
        renamed = stored is None or before != after
        return Change(
            from_hash=from_hash,
            identity=merged,
            entry=None if unchanged else self._cipher.encrypt_identity(from_hash, merged),
            existed=ciphertext is not None,
            point=point,
            drop=tuple(self._cipher.contact_hash(alias) for alias in replaced),
            names=after if renamed and not unchanged else frozenset(),
            unnamed=before - after if renamed and not unchanged else frozenset(),
        )

    def _open(self, from_hash: str) -> Opened | None:
        """The stored identity; None when there is none, or it does not open (writing
        repairs it)."""
        ciphertext = self._entries(from_hash)
        if ciphertext is None:
            return None
        try:
            return self._cipher.decrypt_identity(from_hash, ciphertext)
        except SealBroken:
            return None

    def _legacy(self, from_hash: str) -> bool:
        """An entry without aliases: written before they existed, or broken."""
        ciphertext = self._entries(from_hash)
        if ciphertext is None:
            return False
        opened = self._open(from_hash)
        return opened is None or opened.legacy

    def _new_key(self, seen: ContactIdentity) -> str:
        """The hash of the first alias, as contacts were always keyed; if an entry holds
        it already (a contact that has since moved to another number), a hash of the
        alias in a domain of its own that no real address falls into."""
        first = seen.aliases[0]
        candidates = [first, *(f"{first}\x00{n}" for n in range(1, _NEW_KEY_ATTEMPTS))]
        for candidate in candidates:
            from_hash = self._cipher.contact_hash(candidate)
            if self._entries(from_hash) is None:
                return from_hash
        raise RuntimeError(f"no free contact key after {_NEW_KEY_ATTEMPTS} attempts")
