"""An operator command's audit trail. Stream `command-<command_id>`: requested, then
applied or rejected, each with who, when and why."""

from __future__ import annotations

from pydantic import AwareDatetime

from contracts.commands import OperatorCommand
from contracts.envelope import Event
from contracts.vocabulary import Diagnostic, OperatorId


class CommandRequested(Event):
    """Accepted by the API (202): durable and PENDING."""

    TYPE = "CommandRequested"

    command: OperatorCommand
    requested_by: OperatorId
    requested_at: AwareDatetime


class CommandApplied(Event):
    TYPE = "CommandApplied"

    result: Diagnostic
    """What changed, for the operator (e.g. "control v3 → v4: HUMAN_TAKEOVER by ana")."""


class CommandRejected(Event):
    TYPE = "CommandRejected"

    reason: Diagnostic
    """Why nothing changed, in words the operator can act on."""
