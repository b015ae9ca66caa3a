"""What operators ask Switchboard to do. A command is recorded as `CommandRequested`
(PENDING) and the command worker makes it APPLIED or REJECTED with a result.

`expected_control_version`, where a command has it, is a compare-and-set on the
session's control (the system's for PAUSE_ALL / RESUME_ALL): if the control moved since
the operator looked, the command is rejected rather than applied blindly.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field, Strict, StrictBool

from contracts.frozen import Frozen
from contracts.vocabulary import (
    ControlVersion,
    EntityId,
    MessageText,
    NoteText,
    Priority,
    Reason,
    SealedText,
    SessionOutcome,
)


class CommandType(StrEnum):
    TAKEOVER = "TAKEOVER"
    RELEASE = "RELEASE"
    CLOSE = "CLOSE"
    MARK_READY_FOR_HUMAN = "MARK_READY_FOR_HUMAN"
    PAUSE_ALL = "PAUSE_ALL"
    RESUME_ALL = "RESUME_ALL"
    SEND_MESSAGE = "SEND_MESSAGE"
    ADD_NOTE = "ADD_NOTE"
    FORGET_CONTACT = "FORGET_CONTACT"


class CommandStatus(StrEnum):
    PENDING = "PENDING"
    APPLIED = "APPLIED"
    REJECTED = "REJECTED"


class _Command(Frozen):
    ADMIN_ONLY: ClassVar[bool] = False
    """Only an operator with the `admin` role may request it."""

    command_id: EntityId | None = None
    """Chosen by the client to make a retry idempotent; assigned by the API otherwise."""


class _SessionCommand(_Command):
    target_session_id: EntityId


class TakeOver(_SessionCommand):
    """The requesting operator takes the conversation: no LLM call, no automatic
    outbound, until RELEASE."""

    type: Literal["TAKEOVER"] = "TAKEOVER"
    reason: Reason
    expected_control_version: ControlVersion | None = None


class Release(_SessionCommand):
    """Hand the conversation back to the bot."""

    type: Literal["RELEASE"] = "RELEASE"
    reason: Reason
    expected_control_version: ControlVersion | None = None


class Close(_SessionCommand):
    """Close the session and its lead for good."""

    type: Literal["CLOSE"] = "CLOSE"
    reason: Reason
    outcome: SessionOutcome
    note: NoteText | None = None
    """The closing note."""
    reopen_cooldown_minutes: Annotated[int, Strict(), Field(ge=1, le=30 * 24 * 60)] | None = None
    """For this long a new message from the contact does not reopen a session."""
    expected_control_version: ControlVersion | None = None


class MarkReadyForHuman(_SessionCommand):
    """Handoff: the lead waits for a human; the bot may keep collecting meanwhile."""

    type: Literal["MARK_READY_FOR_HUMAN"] = "MARK_READY_FOR_HUMAN"
    reason: Reason
    priority: Priority = Priority.NORMAL


class PauseAll(_Command):
    """The kill switch: no automatic outbound in any session until RESUME_ALL."""

    ADMIN_ONLY = True
    type: Literal["PAUSE_ALL"] = "PAUSE_ALL"
    reason: Reason
    expected_control_version: ControlVersion | None = None


class ResumeAll(_Command):
    """Lift the kill switch."""

    ADMIN_ONLY = True
    type: Literal["RESUME_ALL"] = "RESUME_ALL"
    reason: Reason
    expected_control_version: ControlVersion | None = None
    answer_waiting: StrictBool = True
    """Reply once to every session whose customer wrote during the pause and still waits
    (bot in charge, 24-hour window open); with false, nothing is sent until the customer
    writes again."""


class SendMessage(_SessionCommand):
    """Send `text` to the customer as HUMAN; only the operator holding the takeover may.

    As recorded, `text` is masked (what operators read) and `sealed_text` holds it as
    typed, sealed for the contact: the ingress does both before the command is kept."""

    type: Literal["SEND_MESSAGE"] = "SEND_MESSAGE"
    text: MessageText
    sealed_text: SealedText | None = Field(default=None, json_schema_extra={"readOnly": True})
    """Set by the ingress; whatever a client sends here is replaced."""
    reason: Reason | None = None
    expected_control_version: ControlVersion | None = None


class AddNote(_SessionCommand):
    """An internal note on the session, never sent to the customer."""

    type: Literal["ADD_NOTE"] = "ADD_NOTE"
    text: NoteText


class ForgetContact(_SessionCommand):
    """Erase the session's contact from the vault (crypto-shredding) and mark the lead
    forgotten."""

    ADMIN_ONLY = True
    type: Literal["FORGET_CONTACT"] = "FORGET_CONTACT"
    reason: Reason


OperatorCommand = Annotated[
    TakeOver
    | Release
    | Close
    | MarkReadyForHuman
    | PauseAll
    | ResumeAll
    | SendMessage
    | AddNote
    | ForgetContact,
    Field(discriminator="type"),
]
