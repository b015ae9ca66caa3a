"""`commands/{command_id}`: each operator command, PENDING until the command worker
applies or rejects it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from contracts.commands import CommandStatus
from contracts.events import CommandApplied, CommandRejected, CommandRequested
from contracts.ports.snapshots import Document, Put, Write
from contracts.snapshots.command import Command
from contracts.streams import StreamKind, stream_kind
from projections.projection import Recorded

COMMANDS = "commands"


class CommandsProjection:
    name = "commands"
    collections = (COMMANDS,)

    def handles(self, stream_id: str) -> bool:
        return stream_kind(stream_id) == StreamKind.COMMAND

    def fold(
        self, state: Document, events: Sequence[Recorded], now: datetime
    ) -> tuple[Document, list[Write]]:
        command = Command.model_validate(state) if state else None
        for recorded in events:
            event = recorded.event
            if isinstance(event, CommandRequested):
                requested = event.command
                command = Command(
                    command_id=recorded.envelope.stream_id.removeprefix("command-"),
                    type=requested.type,
                    target_session_id=getattr(requested, "target_session_id", None),
                    reason=getattr(requested, "reason", None),
                    requested_by=event.requested_by,
                    requested_at=event.requested_at,
                )
            elif command is not None and isinstance(event, CommandApplied | CommandRejected):
                applied = isinstance(event, CommandApplied)
                command = command.model_copy(
                    update={
                        "status": CommandStatus.APPLIED if applied else CommandStatus.REJECTED,
                        "result": event.result
                        if isinstance(event, CommandApplied)
                        else event.reason,
                        "decided_at": recorded.envelope.occurred_at,
                    }
                )
        if command is None:
            return state, []
        document = command.model_dump(mode="json")
        written = {**document, "updated_at": now.isoformat()}
        return document, [Put(COMMANDS, command.command_id, written)]
