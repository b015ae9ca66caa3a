"""The command worker: consumes the `commands` topic and makes each PENDING command
APPLIED or REJECTED, in the same transaction as its effects.

The command's own stream says whether it was decided already, so a redelivered
command changes nothing and publishes its outcome again. FORGET_CONTACT erases the
vault entry before its record is written: an erase is idempotent, and the record
never claims an erase that did not happen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from contracts.commands import CommandStatus, ForgetContact, ResumeAll
from contracts.envelope import Actor, EventEnvelope
from contracts.events import CommandApplied, CommandRejected, CommandRequested
from contracts.streams import SYSTEM_STREAM, command_stream, lead_stream, session_stream
from contracts.topics import EVENTS_TOPIC
from domain.command_log import fold_command
from domain.commands import CommandContext, decide_command
from domain.decision import Emit, Rejected
from domain.lead import fold_lead
from domain.session import fold_session
from domain.system import fold_system
from workers.appending import Cause, Reader, publish
from workers.bursts import Bursts
from workers.replies import Replies
from workers.resume import WaitingAnswers
from workers.services import WorkerServices

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class _Decided:
    status: CommandStatus
    result: str
    recorded_before: list[EventEnvelope] = field(default_factory=list)
    """On a redelivery of a decided command: its stream, to publish again."""


class CommandWorker:
    def __init__(self, services: WorkerServices) -> None:
        self._services = services
        self._waiting = WaitingAnswers(services, Replies(services, Bursts()))

    def handle(self, envelope: EventEnvelope) -> None:
        requested = envelope.event()
        if not isinstance(requested, CommandRequested):
            log.warning("command_event_ignored", type=envelope.type, event_id=envelope.event_id)
            return
        command = requested.command
        command_id = envelope.stream_id.removeprefix("command-")
        if isinstance(command, ForgetContact) and not self._decided(command_id):
            self._erase_contact(command)
        committed = self._services.store.transact(
            lambda tx: self._decide(Reader(tx), command_id, requested)
        )
        decided = committed.value
        publish(self._services.bus, committed.appended)
        self._services.bus.publish(EVENTS_TOPIC, decided.recorded_before)
        log.info("command_decided", command_id=command_id, type=command.type,
                 status=decided.status, result=decided.result,
                 redelivered=bool(decided.recorded_before))  # fmt: skip
        answers = isinstance(command, ResumeAll) and command.answer_waiting
        if answers and decided.status is CommandStatus.APPLIED:
            self._waiting.answer(command_id, envelope)

    def _decide(self, reader: Reader, command_id: str, requested: CommandRequested) -> _Decided:
        command = requested.command
        stream = command_stream(command_id)
        recorded = reader.read(stream)
        current = fold_command(recorded)
        target = getattr(command, "target_session_id", None)
        session_events = reader.read(session_stream(target)) if target else []
        session = fold_session(session_events)
        lead_events = reader.read(lead_stream(session.lead_id)) if session else []
        lead = fold_lead(lead_events)
        system_events = reader.read(SYSTEM_STREAM)
        if current is not None and current.result is not None:
            # its effects too: a delivery that died after the commit published nothing
            effects = [
                e
                for e in (*session_events, *lead_events, *system_events)
                if e.correlation_id == command_id
            ]
            return _Decided(current.status, current.result, [*recorded, *effects])
        system = fold_system(system_events)
        now = self._services.clock()
        context = CommandContext(
            command_id, requested.requested_by, now, session, lead, system,
            requested_by_admin=requested.requested_by_admin,
        )  # fmt: skip
        cause = Cause(command_id, command_id, recorded[0].event_id if recorded else None)
        try:
            applied = decide_command(command, context)
        except Rejected as rejection:
            rejected = CommandRejected(reason=str(rejection))
            reader.append([Emit(stream, rejected, Actor.SYSTEM, now)], cause)
            return _Decided(CommandStatus.REJECTED, rejected.reason)
        outcome = CommandApplied(result=applied.result)
        reader.append([*applied.emits, Emit(stream, outcome, Actor.SYSTEM, now)], cause)
        return _Decided(CommandStatus.APPLIED, outcome.result)

    def _decided(self, command_id: str) -> bool:
        """A redelivered FORGET_CONTACT must not erase a number remembered since."""
        current = fold_command(self._services.store.read(command_stream(command_id)))
        return current is not None and current.result is not None

    def _erase_contact(self, command: ForgetContact) -> None:
        store = self._services.store
        session = fold_session(store.read(session_stream(command.target_session_id)))
        if session is not None:
            self._services.vault.forget(session.from_hash)
