"""What operators write, masked before it is recorded. A reason, a note or a closing note
is read by every operator and kept in an append-only trail, so a phone number typed into
one must never reach it: once recorded, nothing (not even FORGET_CONTACT) takes it out.
An operator's message to a customer is masked the same way for display; the ingress
seals it as typed for the send (`ingress.command_intake`)."""

from __future__ import annotations

from typing import TypeVar

from contracts.commands import AddNote
from contracts.frozen import Frozen
from contracts.vocabulary import MESSAGE_MAX, NOTE_MAX, REASON_MAX
from domain.sanitize import sanitize_within

C = TypeVar("C", bound=Frozen)


def masked_command(command: C) -> C:
    """`command` with every free-text field masked (`domain.sanitize`), each within its
    limit, so that the recorded command reads back as valid."""
    text_max = NOTE_MAX if isinstance(command, AddNote) else MESSAGE_MAX
    limits = {"reason": REASON_MAX, "note": NOTE_MAX, "text": text_max}
    masked = {
        name: sanitize_within(value, limit)
        for name, limit in limits.items()
        if isinstance(value := getattr(command, name, None), str)
    }
    return type(command).model_validate(command.model_dump() | masked)
