"""The outbound sender: consumes the `events` topic and sends each claimed outbound,
at most once (invariant 3).

    claimed ─▶ [send started] ─▶ channel ─▶ sent | failed | unknown

`OutboundSendStarted` is durable before the channel is called. A redelivery that
finds a send started and not settled cannot know whether WhatsApp got it, so it marks
the outbound UNKNOWN for an operator instead of sending again.
"""

from __future__ import annotations

import base64
import time

import structlog

from contracts.envelope import EventEnvelope
from contracts.events import OutboundClaimed, OutboundSent
from contracts.ports.channel import Recipient, Refused, SendOutcome, Sent
from contracts.ports.eventstore import StreamTransaction
from contracts.ports.vault import SealBroken
from contracts.streams import SYSTEM_STREAM, session_stream, wamessage_stream
from contracts.topics import EVENTS_TOPIC
from contracts.vocabulary import MessageStatus
from domain.inbound import UNKNOWN_LINE
from domain.sending import SendStep, decide_send, settle_send
from domain.session import fold_session
from domain.system import fold_system
from workers.appending import Cause, Reader, publish
from workers.services import WorkerServices

log = structlog.get_logger(__name__)

IN_PROGRESS_POLL_S = 0.2

NO_ADDRESS = "the vault holds no identity for this contact: it was forgotten (FORGET_CONTACT)"


class OutboundSender:
    def __init__(self, services: WorkerServices) -> None:
        self._services = services

    def handle(self, envelope: EventEnvelope) -> None:
        if envelope.type != OutboundClaimed.TYPE:
            return
        claimed = envelope.event()
        assert isinstance(claimed, OutboundClaimed)
        services = self._services
        session_id = envelope.stream_id.removeprefix("session-")
        outbound_id = claimed.outbound_id
        cause = Cause(f"{envelope.event_id}:send", envelope.correlation_id, envelope.event_id)
        bound = log.bind(correlation_id=envelope.correlation_id, session_id=session_id,
                         outbound_id=outbound_id, kind=claimed.kind)  # fmt: skip
        step, line = self._started(session_id, outbound_id, cause)
        if not step.send:
            services.bus.publish(EVENTS_TOPIC, self._recorded_before(session_id, envelope))
            if step.emits:
                bound.info("outbound_settled_before_send", outcome=step.emits[0].event.TYPE)
            return
        identity = services.vault.reveal(claimed.to_hash)
        text = self._text_of(claimed) if identity is not None else None
        if identity is None or not isinstance(text, str):
            refused = text if isinstance(text, Refused) else Refused(reason=NO_ADDRESS)
            committed = services.store.transact(
                lambda tx: self._settle(tx, session_id, outbound_id, refused, cause)
            )
            publish(services.bus, committed.appended)
            bound.warning("outbound_without_address")
            return
        if line == UNKNOWN_LINE and services.default_line:
            line = services.default_line
        # The number when there is one (WhatsApp prefers `to`), else the BSUID.
        to = Recipient(phone=identity.e164, user_id=None if identity.e164 else identity.bsuid)
        outcome = services.channel.send_text(line, to, text)
        settled = services.store.transact(
            lambda tx: self._settle(tx, session_id, outbound_id, outcome, cause)
        )
        publish(services.bus, settled.appended)
        bound.info("outbound_settled", outcome=type(outcome).__name__)

    def _text_of(self, claimed: OutboundClaimed) -> str | Refused | None:
        """What to send: an operator's message as typed, opened from its seal, else the
        text itself. Refused when the seal does not open; None when the contact was
        forgotten since."""
        if claimed.sealed_text is None:
            return claimed.text
        sealed = base64.b64decode(claimed.sealed_text)
        try:
            opened = self._services.vault.unseal_for(claimed.to_hash, sealed)
        except SealBroken as broken:
            return Refused(reason=f"the operator's message does not open: {broken}")
        return None if opened is None else opened.decode("utf-8")

    def _recorded_before(self, session_id: str, claimed: EventEnvelope) -> list[EventEnvelope]:
        """What the deliveries of `claimed` recorded (a send started, sent and linked,
        failed, unknown): published again, since a delivery that died after recording
        it may not have published it."""
        store = self._services.store
        events = store.read(session_stream(session_id))
        mine = [e for e in events if e.causation_id == claimed.event_id]
        refs = [e.payload["wa_message_ref"] for e in mine if e.type == OutboundSent.TYPE]
        return mine + [link for ref in refs for link in store.read(wamessage_stream(ref))]

    def _started(self, session_id: str, outbound_id: str, cause: Cause) -> tuple[SendStep, str]:
        """Start the send, or settle it; while another delivery is sending it, wait for
        that one to settle (or for its lease to run out). Also the business line the
        session writes from."""
        services = self._services
        while True:
            started = services.store.transact(
                lambda tx: self._start(tx, session_id, outbound_id, cause)
            )
            publish(services.bus, started.appended)
            step, line = started.value
            if step.in_progress_until is None:
                return step, line
            wait_s = (step.in_progress_until - services.clock()).total_seconds()
            time.sleep(min(max(wait_s, 0.0), IN_PROGRESS_POLL_S))

    def _start(
        self, tx: StreamTransaction, session_id: str, outbound_id: str, cause: Cause
    ) -> tuple[SendStep, str]:
        reader = Reader(tx)
        session = fold_session(reader.read(session_stream(session_id)))
        assert session is not None
        system = fold_system(reader.read(SYSTEM_STREAM))
        services = self._services
        step = decide_send(
            system, session, outbound_id, services.clock(), services.policy.send_lease
        )
        reader.append(step.emits, cause)
        return step, session.business_number_id

    def _settle(
        self,
        tx: StreamTransaction,
        session_id: str,
        outbound_id: str,
        outcome: SendOutcome,
        cause: Cause,
    ) -> None:
        reader = Reader(tx)
        session = fold_session(reader.read(session_stream(session_id)))
        assert session is not None
        outbound = session.outbounds.get(outbound_id)
        if outbound is None or (outbound.settled and outbound.status is not MessageStatus.UNKNOWN):
            return
        services = self._services
        ref = (
            services.vault.message_ref(outcome.wa_message_id) if isinstance(outcome, Sent) else None
        )
        emits = settle_send(session, outbound_id, outcome, ref, services.clock())
        reader.append(emits, cause)
