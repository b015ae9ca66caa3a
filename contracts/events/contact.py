"""The PII vault's audit trail. Stream `contact-<from_hash>`.

The encrypted identity itself lives only in the vault (`contacts/{from_hash}`), never
in an event: events are immutable and keys are shared, so a ciphertext in an event
could not be shredded by FORGET_CONTACT nor re-encrypted by a key rotation."""

from __future__ import annotations

from enum import StrEnum

from contracts.envelope import Event
from contracts.vocabulary import OperatorId, Reason


class IdentityKind(StrEnum):
    """What keys the contact: Meta's business-scoped user id when sent, the normalised
    E.164 number otherwise."""

    BSUID = "BSUID"
    PHONE = "PHONE"


class ContactRegistered(Event):
    TYPE = "ContactRegistered"

    identity_kind: IdentityKind
    has_phone: bool
    """Whether the vault holds a phone number for the contact (users with a username
    may have none), i.e. whether it can be revealed or written to by number."""


class ContactForgotten(Event):
    """The vault entry was erased: the identity behind the hash is unrecoverable."""

    TYPE = "ContactForgotten"

    by: OperatorId
    reason: Reason
