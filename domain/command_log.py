"""A command's lifecycle, folded from its `command-<id>` stream: PENDING until the
command worker applies or rejects it."""

from __future__ import annotations

from collections.abc import Iterable

from contracts.commands import CommandStatus
from contracts.envelope import Event, EventEnvelope
from contracts.events.command import CommandApplied, CommandRejected, CommandRequested
from contracts.snapshots.command import Command


def fold_command(events: Iterable[EventEnvelope]) -> Command | None:
    """The command as its stream tells it; None for an empty stream."""
    command: Command | None = None
    for envelope in events:
        command = evolve_command(command, envelope, envelope.event())
    return command


def evolve_command(
    command: Command | None, envelope: EventEnvelope, event: Event
) -> Command | None:
    """`command` after `event` (recorded as `envelope`); other events leave it as is."""
    if isinstance(event, CommandRequested):
        requested = event.command
        return Command(
            command_id=envelope.stream_id.removeprefix("command-"),
            type=requested.type,
            target_session_id=getattr(requested, "target_session_id", None),
            reason=getattr(requested, "reason", None),
            requested_by=event.requested_by,
            requested_at=event.requested_at,
        )
    if command is not None and isinstance(event, CommandApplied | CommandRejected):
        applied = isinstance(event, CommandApplied)
        return command.model_copy(
            update={
                "status": CommandStatus.APPLIED if applied else CommandStatus.REJECTED,
                "result": event.result if isinstance(event, CommandApplied) else event.reason,
                "decided_at": envelope.occurred_at,
            }
        )
    return command
