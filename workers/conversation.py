"""The conversation worker: consumes the `inbound` topic.

A customer's message is recorded first (its session, lead, cooldown, warning), in one
transaction; what was appended is published; then, once the burst is over, the
reply is drafted and claimed or suppressed (`workers.replies`). A customer deleting or
editing an earlier message is recorded on their current session, answered by nothing.
A delivery status finds its outbound through the `wamessage-<ref>` stream and moves it
forward; one that finds none within the linking grace period is recorded there as
unmatched. An echo (a person writing from the WhatsApp Business app) is recorded and
takes the session over.

Every step is idempotent: a redelivery appends nothing new, publishes again what was
appended, and carries on from where the first delivery stopped.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import structlog

from contracts.envelope import Actor, EventEnvelope, derived_event_id
from contracts.events import (
    MessageEchoed,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    WhatsAppMessageLinked,
    WhatsAppStatusReported,
)
from contracts.ports.eventstore import Appended, EventIdConflict, StreamTransaction
from contracts.streams import SYSTEM_STREAM, lead_stream, session_stream, wamessage_stream
from contracts.topics import EVENTS_TOPIC
from domain.amendment import holds, recent_sessions
from domain.decision import Emit
from domain.echo import Echo, decide_echo
from domain.ids import lead_id_for
from domain.inbound import Inbound, decide_inbound
from domain.lead import fold_lead
from domain.session import Session, evolve, fold_session
from domain.status import decide_status, decide_unmatched
from domain.system import fold_system
from workers.appending import Cause, Reader, publish
from workers.bursts import Bursts
from workers.replies import Replies
from workers.services import WorkerServices

log = structlog.get_logger(__name__)

STRIPES = 64
AMENDED_SESSIONS_SEARCHED = 5
"""How many of a contact's latest sessions a deletion or an edit looks for its original
in: WhatsApp lets a message be edited for 15 minutes and deleted for about two days."""
LINK_POLL_S = (0.1, 2.0)
"""A status waiting for its link reads the stream again after the first wait, doubled
each time up to the second."""


@dataclass(frozen=True)
class _Recording:
    session_id: str
    answerable: bool
    session: Session | None = None
    """The session before this message's events, when they were appended to it."""
    recorded_before: list[EventEnvelope] = field(default_factory=list)
    """On a redelivery: what the first delivery appended, to publish again."""


class ConversationWorker:
    def __init__(self, services: WorkerServices) -> None:
        self._services = services
        self._bursts = Bursts()
        self._replies = Replies(services, self._bursts)
        self._locks = [threading.Lock() for _ in range(STRIPES)]

    def handle(self, envelope: EventEnvelope) -> None:
        event = envelope.event()
        if isinstance(event, MessageReceived):
            self._message(envelope, event)
        elif isinstance(event, MessageRevoked | MessageEdited):
            self._amendment(envelope, event)
        elif isinstance(event, WhatsAppStatusReported):
            self._status(envelope, event)
        elif isinstance(event, MessageEchoed):
            self._echo(envelope, event)
        else:
            log.warning("inbound_event_ignored", type=envelope.type, event_id=envelope.event_id)

    # --- a customer's message ------------------------------------------------------------

    def _message(self, envelope: EventEnvelope, message: MessageReceived) -> None:
        services = self._services
        cause = Cause(envelope.event_id, envelope.correlation_id, envelope.event_id)
        inbound = Inbound(envelope.event_id, message, envelope.occurred_at)
        lock = self._locks[hash(message.from_hash) % len(self._locks)]
        try:
            with lock:  # one contact's messages at a time here: they would only contend
                committed = services.store.transact(
                    lambda tx: self._record(Reader(tx), inbound, cause)
                )
        except EventIdConflict:
            # recorded in an earlier session of the contact, which has ended since
            log.info("message_recorded_before", correlation_id=cause.correlation_id)
            return
        recording = committed.value
        publish(services.bus, committed.appended)
        services.bus.publish(EVENTS_TOPIC, recording.recorded_before)
        self._bursts.arrived(recording.session_id)
        log.info(
            "message_recorded",
            correlation_id=cause.correlation_id,
            session_id=recording.session_id,
            redelivered=bool(recording.recorded_before),
            answerable=recording.answerable,
        )
        if recording.answerable:
            recorded = _after(recording, committed.appended)
            self._replies.answer(recording.session_id, message.wa_message_ref, cause, recorded)

    def _record(self, reader: Reader, inbound: Inbound, cause: Cause) -> _Recording:
        lead_events = reader.read(lead_stream(lead_id_for(inbound.message.from_hash)))
        lead = fold_lead(lead_events)
        session_events = reader.read(session_stream(lead.session_id)) if lead else []
        recorded_id = derived_event_id(cause.input_id, MessageReceived.TYPE)
        if any(event.event_id == recorded_id for event in session_events):
            assert lead is not None
            # the message's and its reply's events, in both streams they touch
            before = [
                e
                for e in (*session_events, *lead_events)
                if e.correlation_id == cause.correlation_id
            ]
            # carry on: the reply step finds out for itself whether it is still due
            return _Recording(lead.session_id, answerable=True, recorded_before=before)
        system = fold_system(reader.read(SYSTEM_STREAM))
        session = fold_session(session_events)
        now = self._services.clock()
        decision = decide_inbound(lead, session, system, inbound, now, self._services.policy)
        reader.append(decision.emits, cause)
        same = session is not None and session.session_id == decision.session_id
        return _Recording(decision.session_id, decision.answerable, session if same else None)

    # --- a customer deleting or editing a message --------------------------------------

    def _amendment(self, envelope: EventEnvelope, event: MessageRevoked | MessageEdited) -> None:
        """Recorded on the session that holds the original (the current one, or one of
        the few before it), else on the current one; nothing when the contact has no
        session yet."""
        services = self._services
        cause = Cause(envelope.event_id, envelope.correlation_id, envelope.event_id)

        def record(tx: StreamTransaction) -> str | None:
            reader = Reader(tx)
            lead_events = reader.read(lead_stream(lead_id_for(event.from_hash)))
            lead = fold_lead(lead_events)
            if lead is None:
                return None
            sessions = recent_sessions(lead_events, AMENDED_SESSIONS_SEARCHED)
            holder = next(
                (s for s in sessions if holds(reader.read(session_stream(s)), event.original_ref)),
                lead.session_id,
            )
            stream = session_stream(holder)
            reader.append([Emit(stream, event, Actor.USER, envelope.occurred_at)], cause)
            return holder

        lock = self._locks[hash(event.from_hash) % len(self._locks)]
        try:
            with lock:
                committed = services.store.transact(record)
        except EventIdConflict:
            log.info("amendment_recorded_before", correlation_id=cause.correlation_id)
            return
        publish(services.bus, committed.appended)
        log.info(
            "amendment_recorded",
            type=envelope.type,
            correlation_id=cause.correlation_id,
            session_id=committed.value,
        )

    # --- a delivery status -------------------------------------------------------------

    def _status(self, envelope: EventEnvelope, report: WhatsAppStatusReported) -> None:
        services = self._services
        link = self._link(envelope, report)
        if link is None:
            self._unmatched(envelope, report)
            return
        found, correlation_id = link
        cause = Cause(envelope.event_id, correlation_id, envelope.event_id)

        def record(tx: StreamTransaction) -> list[Emit]:
            reader = Reader(tx)
            session = fold_session(reader.read(session_stream(found.session_id)))
            if session is None:
                return []
            emits = decide_status(session, found.outbound_id, report, envelope.occurred_at)
            reader.append(emits, cause)
            return emits

        committed = services.store.transact(record)
        publish(services.bus, committed.appended)
        log.info(
            "status_recorded",
            session_id=found.session_id,
            outbound_id=found.outbound_id,
            status=report.status,
            moved=bool(committed.value),
        )

    def _link(
        self, envelope: EventEnvelope, report: WhatsAppStatusReported
    ) -> tuple[WhatsAppMessageLinked, str] | None:
        """The outbound the message id is linked to, and the send's correlation id.
        WhatsApp may report before the sender records the send, so this waits for the
        link until the grace period, counted from the webhook's arrival, is over (a
        redelivery does not wait again); None then."""
        services = self._services
        deadline = envelope.recorded_at + services.policy.status_link_grace
        wait_s = LINK_POLL_S[0]
        while True:
            for each in services.store.read(wamessage_stream(report.wa_message_ref)):
                event = each.event()
                if isinstance(event, WhatsAppMessageLinked):
                    return event, each.correlation_id
            left_s = (deadline - services.clock()).total_seconds()
            if left_s <= 0:
                return None
            time.sleep(min(wait_s, left_s))
            wait_s = min(wait_s * 2, LINK_POLL_S[1])

    def _unmatched(self, envelope: EventEnvelope, report: WhatsAppStatusReported) -> None:
        """Not a message Switchboard sent: recorded once, and acknowledged."""
        services = self._services
        cause = Cause(envelope.event_id, envelope.correlation_id, envelope.event_id)

        def record(tx: StreamTransaction) -> None:
            Reader(tx).append(decide_unmatched(report, envelope.occurred_at), cause)

        committed = services.store.transact(record)
        publish(services.bus, committed.appended)
        log.info(
            "status_unmatched",
            correlation_id=cause.correlation_id,
            status=report.status,
            redelivered=any(each.duplicate for each in committed.appended),
        )

    # --- a person writing from the WhatsApp Business app -------------------------------

    def _echo(self, envelope: EventEnvelope, message: MessageEchoed) -> None:
        services = self._services
        cause = Cause(envelope.event_id, envelope.correlation_id, envelope.event_id)
        echo = Echo(envelope.event_id, message, envelope.occurred_at)
        lock = self._locks[hash(message.to_hash) % len(self._locks)]
        try:
            with lock:  # the same stripe as the customer's own messages
                committed = services.store.transact(
                    lambda tx: self._record_echo(Reader(tx), echo, cause)
                )
        except EventIdConflict:
            log.info("echo_recorded_before", correlation_id=cause.correlation_id)
            return
        session_id, recorded_before = committed.value
        publish(services.bus, committed.appended)
        services.bus.publish(EVENTS_TOPIC, recorded_before)
        log.info(
            "echo_recorded",
            correlation_id=cause.correlation_id,
            session_id=session_id,
            redelivered=bool(recorded_before),
        )

    def _record_echo(
        self, reader: Reader, echo: Echo, cause: Cause
    ) -> tuple[str, list[EventEnvelope]]:
        """The session recorded in, and, on a redelivery, what the first delivery
        appended (to publish again)."""
        lead_events = reader.read(lead_stream(lead_id_for(echo.message.to_hash)))
        lead = fold_lead(lead_events)
        session_events = reader.read(session_stream(lead.session_id)) if lead else []
        recorded_id = derived_event_id(cause.input_id, MessageEchoed.TYPE)
        if lead is not None and any(e.event_id == recorded_id for e in session_events):
            link_events = reader.read(wamessage_stream(echo.message.wa_message_ref))
            mine = [
                e
                for e in (*session_events, *lead_events, *link_events)
                if e.correlation_id == cause.correlation_id
            ]
            return lead.session_id, mine
        session = fold_session(session_events)
        now = self._services.clock()
        decision = decide_echo(lead, session, echo, now, self._services.policy)
        reader.append(decision.emits, cause)
        return decision.session_id, []


def _after(recording: _Recording, appended: tuple[Appended, ...]) -> Session | None:
    """The session as this message's record left it, from the events just appended to
    it, so that the reply step need not read it back; None when unknown."""
    session = recording.session
    if session is None or recording.recorded_before:
        return None
    stream = session_stream(recording.session_id)
    for each in appended:
        if each.stream_id == stream:
            if each.duplicate:
                return None
            for envelope in each.events:
                session = evolve(session, envelope)
    return session
