"""Accepting an operator command: durable first, then on the bus, then 202.

The command is appended to its own stream (`command-<id>`) and what was appended is
published on the `commands` topic; only then does the API answer. A retry with the same
`command_id` appends nothing and publishes again, so a crash between the two steps is
healed by the client's retry, and the command worker's idempotence absorbs the repeat.
"""

from __future__ import annotations

import uuid

import structlog

from contracts.commands import OperatorCommand
from contracts.envelope import Actor, NewEvent, derived_event_id
from contracts.events.command import CommandRequested
from contracts.operators import Operator
from contracts.snapshots.command import Command
from contracts.streams import command_stream
from domain.command_log import fold_command
from ingress.errors import Conflicting, Forbidden, NotFound
from ingress.services import COMMANDS_TOPIC, IngressServices

log = structlog.get_logger(__name__)


def submit_command(
    services: IngressServices, operator: Operator, command: OperatorCommand
) -> Command:
    if command.ADMIN_ONLY and not operator.is_admin:
        raise Forbidden(f"only an admin may request {command.type}")
    command_id = command.command_id or uuid.uuid4().hex
    command = command.model_copy(update={"command_id": command_id})
    now = services.clock()
    requested = NewEvent.of(
        CommandRequested(
            command=command,
            requested_by=operator.name,
            requested_at=now,
            requested_by_admin=operator.is_admin,
        ),
        event_id=derived_event_id(command_id, "CommandRequested"),
        occurred_at=now,
        actor=Actor.HUMAN,
        correlation_id=command_id,
    )
    stream = command_stream(command_id)
    appended = services.store.append(stream, [requested], expected_version=0)
    if appended.duplicate:
        recorded = appended.events[0].event()
        same = isinstance(recorded, CommandRequested) and (
            recorded.command == command and recorded.requested_by == operator.name
        )
        if not same:
            raise Conflicting(f"command_id {command_id!r} was already used for a different command")
    services.bus.publish(COMMANDS_TOPIC, appended.events)
    log.info("command_accepted", command_id=command_id, type=command.type,
             operator=operator.name, duplicate=appended.duplicate)  # fmt: skip
    return command_status(services, command_id)


def command_status(services: IngressServices, command_id: str) -> Command:
    command = fold_command(services.store.read(command_stream(command_id)))
    if command is None:
        raise NotFound(f"no command {command_id!r}")
    return command
