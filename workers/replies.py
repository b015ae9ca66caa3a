"""The reply step of the conversation worker: wait out the burst, draft, then claim
or suppress in the transaction that checks the gate.

Only the handler of a burst's last message drafts, so a burst gets one reply. The
responder is not called at all while the gate is closed (a takeover, a pause, a
cooldown); if the gate closes while it drafts, the claim's transaction sees it and
suppresses the draft (invariant 1).
"""

from __future__ import annotations

import time
from datetime import datetime

import structlog

from contracts.envelope import Actor
from contracts.events import ReplyDraftFailed, SuppressionReason
from contracts.ports.eventstore import StreamTransaction
from contracts.ports.responder import ResponderFailed
from contracts.streams import SYSTEM_STREAM, lead_stream, session_stream
from contracts.vocabulary import DIAGNOSTIC_MAX
from domain.decision import Emit
from domain.gate import closed_because
from domain.ids import outbound_id_for
from domain.lead import fold_lead, forgotten_for
from domain.reply import DraftMade, conversation_for, decide_reply
from domain.sanitize import sanitize_within
from domain.session import Session, fold_session
from domain.system import fold_system
from workers.appending import Cause, Reader, publish
from workers.bursts import Bursts
from workers.services import WorkerServices

log = structlog.get_logger(__name__)


class Replies:
    def __init__(self, services: WorkerServices, bursts: Bursts) -> None:
        self._services = services
        self._bursts = bursts

    def answer(
        self, session_id: str, ref: str, cause: Cause, recorded: Session | None = None
    ) -> None:
        """Answer the burst that `ref` ends, if it does end it. Raises
        `ResponderFailed` (after recording it) so that the message is delivered again,
        and dead-lettered after the bus's attempts. `recorded` is the session as the
        message's record left it, when the caller knows it."""
        outbound_id = outbound_id_for(cause.input_id)
        session = self._burst_over(session_id, ref, outbound_id, recorded)
        if session is None:
            return
        reply_cause = Cause(f"{cause.input_id}:reply", cause.correlation_id, cause.causation_id)
        self._draft_and_claim(session, outbound_id, reply_cause)

    def answer_waiting(self, session: Session, outbound_id: str, cause: Cause) -> str | None:
        """Draft and claim one reply to what `session` has pending, outside any burst
        (RESUME_ALL's reply to a session that waited through the pause). The claim's
        event type, or None when nothing was drafted. Raises `ResponderFailed` after
        recording it."""
        return self._draft_and_claim(session, outbound_id, cause)

    def _draft_and_claim(self, session: Session, outbound_id: str, cause: Cause) -> str | None:
        services = self._services
        session_id = session.session_id
        bound = log.bind(correlation_id=cause.correlation_id, session_id=session_id)
        lead = fold_lead(services.store.read(lead_stream(session.lead_id)))
        system = fold_system(services.store.read(SYSTEM_STREAM))
        now = services.clock()
        closed = closed_because(system, session, session.control_version, now)
        if closed is None and lead is not None and forgotten_for(lead, session.last_inbound_at):
            closed = SuppressionReason.CONTACT_FORGOTTEN
        conversation = conversation_for(session, lead) if lead else None
        if closed is not None or conversation is None:
            bound.info("reply_not_drafted", gate=closed)
            return None
        started = time.monotonic()
        try:
            draft = services.responder.draft(conversation)
        except ResponderFailed as failure:
            self._record_failure(session, failure, _elapsed_ms(started), cause, now)
            raise
        made = DraftMade(
            outbound_id=outbound_id,
            control_version=session.control_version,
            in_reply_to=session.pending_refs(),
            draft=draft,
            responder=services.responder.name,
            latency_ms=_elapsed_ms(started),
        )
        committed = services.store.transact(lambda tx: self._claim(tx, session_id, made, cause))
        publish(services.bus, committed.appended)
        bound.info("reply_decided", outbound_id=outbound_id, outcome=committed.value,
                   latency_ms=made.latency_ms)  # fmt: skip
        return committed.value

    def _burst_over(
        self, session_id: str, ref: str, outbound_id: str, recorded: Session | None
    ) -> Session | None:
        """The session once the burst that `ref` ends is over (no newer message for
        the debounce); None when `ref` does not end it, or is answered already."""
        debounce = self._services.policy.reply_debounce.total_seconds()
        quiet = debounce <= 0
        session = recorded
        while True:
            if session is None:
                session = fold_session(self._services.store.read(session_stream(session_id)))
            if session is None or not _ends_the_burst(session, ref, outbound_id):
                return None
            if quiet:
                return session
            quiet = self._bursts.quiet_for(session_id, debounce)
            session = None  # read it again: a newer message may have come from elsewhere

    def _claim(self, tx: StreamTransaction, session_id: str, made: DraftMade, cause: Cause) -> str:
        reader = Reader(tx)
        session = fold_session(reader.read(session_stream(session_id)))
        assert session is not None
        if made.outbound_id in session.drafted:
            return "drafted by another delivery of the same message"
        lead = fold_lead(reader.read(lead_stream(session.lead_id)))
        assert lead is not None
        system = fold_system(reader.read(SYSTEM_STREAM))
        services = self._services
        emits = decide_reply(system, session, lead, made, services.clock(), services.policy)
        reader.append(emits, cause)
        return emits[1].event.TYPE

    def _record_failure(
        self, session: Session, failure: ResponderFailed, latency_ms: int, cause: Cause,
        now: datetime,
    ) -> None:  # fmt: skip
        """Shown to operators. Recorded once per message: a redelivery that fails
        again appends nothing new."""
        failed = ReplyDraftFailed(
            in_reply_to=session.pending_refs(),
            responder=self._services.responder.name,
            error=sanitize_within(str(failure) or type(failure).__name__, DIAGNOSTIC_MAX),
            attempts=max(failure.attempts, 1),
            latency_ms=latency_ms,
        )
        emit = Emit(session_stream(session.session_id), failed, Actor.SYSTEM, now)
        committed = self._services.store.transact(lambda tx: Reader(tx).append([emit], cause))
        publish(self._services.bus, committed.appended)
        log.warning("reply_draft_failed", correlation_id=cause.correlation_id,
                    session_id=session.session_id, attempts=failed.attempts)  # fmt: skip


def _ends_the_burst(session: Session, ref: str, outbound_id: str) -> bool:
    """`ref` is the latest message, still waiting for an answer, and not drafted for."""
    return (
        session.last_inbound_ref == ref
        and ref in session.pending_refs()
        and outbound_id not in session.drafted
    )


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
