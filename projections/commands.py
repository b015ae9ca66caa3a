"""`commands/{command_id}`: each operator command, PENDING until the command worker
applies or rejects it."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.ports.snapshots import Document, Put, Write
from contracts.snapshots.command import Command
from contracts.streams import StreamKind, stream_kind
from domain.command_log import evolve_command
from projections.projection import Recorded, changed_at

COMMANDS = "commands"


class CommandsProjection:
    name = "commands"
    collections = (COMMANDS,)

    def handles(self, stream_id: str) -> bool:
        return stream_kind(stream_id) == StreamKind.COMMAND

    def fold(self, state: Document, events: Sequence[Recorded]) -> tuple[Document, list[Write]]:
        command = Command.model_validate(state) if state else None
        for recorded in events:
            command = evolve_command(command, recorded.envelope, recorded.event)
        if command is None:
            return state, []
        document = command.model_dump(mode="json")
        written = {**document, "updated_at": changed_at(events[-1])}
        return document, [Put(COMMANDS, command.command_id, written)]
