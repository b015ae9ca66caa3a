"""An operator command's audit trail. Stream `command-<command_id>`: requested, then
applied or rejected, each with who, when and why."""

from __future__ import annotations

from pydantic import AwareDatetime

from contracts.commands import OperatorCommand
from contracts.envelope import Event
from contracts.vocabulary import Diagnostic, EntityId, OperatorId


class CommandRequested(Event):
    """Accepted by the API (202): durable and PENDING."""

    TYPE = "CommandRequested"

    command: OperatorCommand
    requested_by: OperatorId
    requested_at: AwareDatetime
    requested_by_admin: bool = False
    """The requester's role when the API accepted it (admins may release or close what
    another operator holds). Absent from events recorded before roles were kept."""


class CommandApplied(Event):
    TYPE = "CommandApplied"

    result: Diagnostic
    """What changed, for the operator (e.g. "control v3 → v4: HUMAN_TAKEOVER by ana")."""


class CommandRejected(Event):
    TYPE = "CommandRejected"

    reason: Diagnostic
    """Why nothing changed, in words the operator can act on."""


class WaitingSessionsAnswered(Event):
    """RESUME_ALL (`answer_waiting`) replied to the sessions whose customer wrote during
    the pause and still waited: by session id, those whose reply was claimed, those the
    gate stopped at the claim (a takeover that committed first, a newer message), and
    those the responder failed (recorded on the session as `ReplyDraftFailed`)."""

    TYPE = "WaitingSessionsAnswered"

    answered: tuple[EntityId, ...] = ()
    suppressed: tuple[EntityId, ...] = ()
    failed: tuple[EntityId, ...] = ()
