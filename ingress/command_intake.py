"""Accepting an operator command: durable first, then on the bus, then 202.

The command is appended to its own stream (`command-<id>`) and what was appended is
published on the `commands` topic; only then does the API answer. A retry with the same
`command_id` appends nothing and publishes again, so a crash between the two steps is
healed by the client's retry, and the command worker's idempotence absorbs the repeat.
"""

from __future__ import annotations

import base64
import uuid

import structlog

from contracts.commands import OperatorCommand, SendMessage
from contracts.envelope import Actor, NewEvent, derived_event_id
from contracts.events.command import CommandRequested
from contracts.events.session import SessionStarted
from contracts.operators import Operator
from contracts.snapshots.command import Command
from contracts.streams import command_stream, session_stream
from domain.command_log import fold_command
from domain.operator_text import masked_command
from ingress.errors import Conflicting, Forbidden, NotFound
from ingress.services import COMMANDS_TOPIC, IngressServices

log = structlog.get_logger(__name__)


def submit_command(
    services: IngressServices, operator: Operator, command: OperatorCommand
) -> Command:
    if command.ADMIN_ONLY and not operator.is_admin:
        raise Forbidden(f"only an admin may request {command.type}")
    command_id = command.command_id or uuid.uuid4().hex
    typed = command.model_copy(update={"command_id": command_id})
    command = masked_command(typed)
    if isinstance(typed, SendMessage) and isinstance(command, SendMessage):
        command = _sealed(services, typed, command)
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
            _same(services, recorded.command, command, typed)
            and recorded.requested_by == operator.name
        )
        if not same:
            raise Conflicting(f"command_id {command_id!r} was already used for a different command")
    services.bus.publish(COMMANDS_TOPIC, appended.events)
    log.info("command_accepted", command_id=command_id, type=command.type,
             operator=operator.name, duplicate=appended.duplicate)  # fmt: skip
    return command_status(services, command_id)


def _sealed(services: IngressServices, typed: SendMessage, masked: SendMessage) -> SendMessage:
    """`masked` with the text as typed sealed for the session's contact. The session's
    first event names the contact: the store, not a snapshot, so a projection behind
    cannot make it unknown. With no session, or a contact the vault no longer holds,
    nothing is sealed: the command worker rejects the command, and the sender could not
    address it anyway."""
    from_hash = _contact_of(services, typed.target_session_id)
    sealed = None if from_hash is None else services.vault.seal_for(from_hash, _utf8(typed))
    if sealed is None:
        return masked
    return masked.model_copy(update={"sealed_text": base64.b64encode(sealed).decode("ascii")})


def _same(
    services: IngressServices, recorded: OperatorCommand, masked: OperatorCommand,
    typed: OperatorCommand,
) -> bool:  # fmt: skip
    """A retry of the recorded command: equal once masked, and for a message the same
    text as typed (sealing is randomised, and two numbers mask alike)."""
    if not isinstance(recorded, SendMessage) or not isinstance(typed, SendMessage):
        return recorded == masked
    unsealed = {"sealed_text": None}
    if recorded.model_copy(update=unsealed) != masked.model_copy(update=unsealed):
        return False
    if recorded.sealed_text is None:
        return True
    from_hash = _contact_of(services, typed.target_session_id)
    sealed = base64.b64decode(recorded.sealed_text)
    opened = None if from_hash is None else services.vault.unseal_for(from_hash, sealed)
    return opened == _utf8(typed)


def _contact_of(services: IngressServices, session_id: str) -> str | None:
    first = services.store.read(session_stream(session_id))[:1]
    started = first[0].event() if first else None
    return started.from_hash if isinstance(started, SessionStarted) else None


def _utf8(message: SendMessage) -> bytes:
    return message.text.encode("utf-8")


def command_status(services: IngressServices, command_id: str) -> Command:
    command = fold_command(services.store.read(command_stream(command_id)))
    if command is None:
        raise NotFound(f"no command {command_id!r}")
    return command
