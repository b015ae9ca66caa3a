"""The `Vault` port: where a contact's identity lives, and nowhere else.

Everything outside the vault knows a contact only by `from_hash`, a 64-hex key. The
vault keeps the contact's whole identity (number, business-scoped user id, profile name,
username) sealed with AES-GCM under a key id, so keys rotate; forgetting a contact
erases its entry, and with it the only way back to who they are (crypto-shredding).

One person, one `from_hash`, whatever WhatsApp reports: each alias (the E.164 number,
the BSUID) is hashed (HMAC-SHA256 under `PII_HASH_KEY`) and mapped to the contact it
names. A new contact's `from_hash` is the hash of its first alias (the BSUID when sent,
else the number), which is how every contact was keyed before aliases existed, so
existing `from_hash`es stay as they are.

Every adapter passes `tests/contract/test_vault.py` unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Protocol, Self

from pydantic import StringConstraints, model_validator

from contracts.frozen import Frozen

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


E164 = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]
UserId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,160}$")]
"""A business-scoped user id as Meta writes it, e.g. `BR.1502576394655843`."""
ProfileText = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class ContactIdentity(Frozen):
    """Who a contact is, as far as WhatsApp told us. Personal data: it exists in clear
    only in memory, between the webhook and the vault or the vault and its reader."""

    e164: E164 | None = None
    """The normalised phone number; absent for a user with a username Meta withholds
    it from."""
    bsuid: UserId | None = None
    """Meta's business-scoped user id (`user_id`), an address of its own."""
    parent_user_id: UserId | None = None
    """The parent BSUID Meta sends for linked business portfolios."""
    profile_name: ProfileText | None = None
    """The name the customer gave in their WhatsApp profile."""
    username: ProfileText | None = None
    sealing_key: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{43}$")] | None = None
    """The contact's own key (32 bytes, URL-safe base64) for what is sealed for them
    (`Vault.seal_for`): it lives and dies with the entry, so forgetting the contact
    makes all of it unreadable for good. Not who they are: nothing shows it."""

    @model_validator(mode="after")
    def _has_an_alias(self) -> Self:
        if self.e164 is None and self.bsuid is None:
            raise ValueError("a contact identity needs a phone number or a business-scoped id")
        return self

    @property
    def aliases(self) -> tuple[str, ...]:
        """What names the contact, in the order that keys a new one: the BSUID first,
        then the number (as `domain.identity.contact_identity`)."""
        return tuple(alias for alias in (self.bsuid, self.e164) if alias is not None)

    @property
    def display_name(self) -> str | None:
        """How an operator greets them: the profile name, else the username."""
        return self.profile_name or self.username


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

    def remember(self, seen: ContactIdentity) -> str:
        """The `from_hash` of the contact `seen` is: the one its BSUID names, else the
        one its number names, else a new one. Merges `seen` into the sealed entry (what
        was seen replaces what was kept; what was not seen is kept) and points every
        alias of the result at the contact; an alias it replaced (an older number or
        BSUID) stops naming it. Writes nothing when nothing changed. A forgotten
        contact that writes again is remembered again."""
        ...

    def contact_of(self, seen: ContactIdentity) -> str | None:
        """The `from_hash` `remember(seen)` would find, without writing; None for a
        contact the vault does not know."""
        ...

    def contacts_named(self, text: str, limit: int) -> list[str]:
        """The contacts (`from_hash`, in order) whose display name has every word of
        `text`, each whole or as the start of a word of the name (three letters or
        more), ignoring case and accents; at most `limit`. Names are indexed blind
        (keyed hashes of their words), kept while the contact is remembered, replaced
        when the name changes, erased by `forget`."""
        ...

    def change_number(self, from_hash: str, e164: str) -> bool:
        """The contact changed their number (WhatsApp's `user_changed_number`): the new
        number replaces the old one in the entry and names the contact from now on; the
        old one no longer does. False when the vault does not know the contact."""
        ...

    def change_user_id(self, from_hash: str, bsuid: str, parent_user_id: str | None = None) -> bool:
        """The contact's business-scoped user id changed (`user_changed_user_id`, or
        with a number change): the new one replaces the old in the entry and names the
        contact from now on; the old one no longer does. False when the vault does not
        know the contact."""
        ...

    def reveal(self, from_hash: str) -> ContactIdentity | None:
        """The identity in clear, or None when unknown or forgotten. Callers audit it."""
        ...

    def forget(self, from_hash: str) -> bool:
        """Erase the entry and every alias naming it, so nothing of the identity can be
        recovered; True if there was an entry."""
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

    def seal_for(self, from_hash: str, data: bytes) -> bytes | None:
        """`data` encrypted under the contact's own key (`ContactIdentity.sealing_key`,
        made on first use): `forget` erases the key with the entry, so what was sealed
        for a contact dies with them. None when the vault does not know the contact."""
        ...

    def unseal_for(self, from_hash: str, sealed: bytes) -> bytes | None:
        """What `seal_for` sealed for this contact; None when the contact was forgotten
        (or never known). Raises `SealBroken` for an altered blob or one sealed for
        another contact."""
        ...
