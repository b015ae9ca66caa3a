"""A pure, in-memory world for testing the domain the way the workers use it.

Streams are lists of `EventEnvelope`s. Each step reads the state it needs, calls one
decision and appends what it returns in one "transaction", exactly as `workers/` do,
with event ids derived from the input's id (`workers/appending.py`) so that a
repeated input appends nothing. Time is the world's `now`, moved by `advance`.

States are evolved event by event as envelopes are appended (the live path, and
what decisions read: folding every stream from scratch at every step would make the
property tests quadratic); `replayed` folds a stream from scratch through JSON, as a
store hands it back, and the gate properties check after every step that both agree.

Every append is numbered (`step`) and every envelope keeps the step it was appended
in (`step_of`), which gives the world a global order across streams: "the world just
before an event" is every event appended before it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from contracts.commands import OperatorCommand
from contracts.envelope import Actor, Event, EventEnvelope, NewEvent, derived_event_id
from contracts.events import (
    CommandApplied,
    CommandRejected,
    MessageReceived,
    OutboundClaimed,
    WhatsAppMessageLinked,
    WhatsAppStatusReported,
)
from contracts.ports.channel import SendOutcome, Sent
from contracts.ports.responder import Draft, FieldGuess, Handoff
from contracts.streams import (
    SYSTEM_STREAM,
    command_stream,
    lead_stream,
    session_stream,
    wamessage_stream,
)
from contracts.vocabulary import MessageStatus, MessageType, WhatsAppStatus
from domain.commands import Applied, CommandContext, decide_command
from domain.decision import Emit, Rejected
from domain.gate import closed_because
from domain.ids import lead_id_for, outbound_id_for
from domain.inbound import Inbound, Recorded, decide_inbound
from domain.lead import Lead, evolve_lead, fold_lead
from domain.policy import ConversationPolicy
from domain.reply import DraftMade, conversation_for, decide_reply
from domain.sending import SendStep, decide_send, settle_send
from domain.session import Session, evolve, fold_session
from domain.status import decide_status
from domain.system import System, fold_system

T0 = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
"""A Monday noon, UTC: where every world's clock starts."""


def hex64(*parts: object) -> str:
    """64 lowercase hex characters, stable for the same parts: a `from_hash` or a
    `wa_message_ref`."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()


def contact(name: str) -> str:
    """The `from_hash` of a contact called `name`."""
    return hex64("contact", name)


def message(
    from_hash: str,
    ref: str,
    text: str | None = "oi",
    *,
    type: MessageType = MessageType.TEXT,
    business_number_id: str | None = "106540352242922",
) -> MessageReceived:
    return MessageReceived(
        wa_message_ref=ref,
        from_hash=from_hash,
        type=type,
        body_sanitized=text,
        business_number_id=business_number_id,
    )


class EventIdConflict(AssertionError):
    """An event id recorded for another event: deterministic ids collided."""


@dataclass(frozen=True)
class Delivered:
    """One inbound message handed to the world."""

    input_id: str
    ref: str
    recorded: Recorded | None
    """None when the message was recorded before (a redelivery): nothing appended."""
    events: list[EventEnvelope]


@dataclass(frozen=True)
class Drafted:
    """A responder's draft, made from the session as it was at `made_at`; claimed (or
    suppressed) later by `World.reply`."""

    session_id: str
    input_id: str
    made: DraftMade
    made_at: datetime


@dataclass
class World:
    policy: ConversationPolicy = field(default_factory=ConversationPolicy)
    now: datetime = T0
    streams: dict[str, list[EventEnvelope]] = field(default_factory=dict)
    log: list[EventEnvelope] = field(default_factory=list)
    """Every envelope, in the order appended: the world's global order."""
    step: int = 0
    """How many transactions committed something."""
    step_of: dict[str, int] = field(default_factory=dict)
    """Event id → the step that appended it."""
    live_sessions: dict[str, Session | None] = field(default_factory=dict)
    live_leads: dict[str, Lead | None] = field(default_factory=dict)
    """States evolved event by event as they were appended (the live path)."""
    input_of_ref: dict[str, str] = field(default_factory=dict)
    _serial: int = 0

    # --- time and ids ----------------------------------------------------------------

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now

    def next_id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}-{self._serial}"

    # --- reading ---------------------------------------------------------------------

    def read(self, stream_id: str) -> list[EventEnvelope]:
        return list(self.streams.get(stream_id, []))

    def system(self) -> System:
        return fold_system(self.read(SYSTEM_STREAM))

    def session(self, session_id: str) -> Session | None:
        """The session as its stream tells it (evolved as its events were appended:
        `replayed` folds it from scratch, and the gate properties check they agree)."""
        return self.live_sessions.get(session_stream(session_id))

    def lead(self, lead_id: str) -> Lead | None:
        return self.live_leads.get(lead_stream(lead_id))

    def lead_of(self, from_hash: str) -> Lead | None:
        return self.lead(lead_id_for(from_hash))

    def current_session(self, from_hash: str) -> Session | None:
        lead = self.lead_of(from_hash)
        return self.session(lead.session_id) if lead else None

    def must_session(self, session_id: str) -> Session:
        session = self.session(session_id)
        assert session is not None, f"no session {session_id}"
        return session

    def must_lead(self, lead_id: str) -> Lead:
        lead = self.lead(lead_id)
        assert lead is not None, f"no lead {lead_id}"
        return lead

    def events(self, stream_id: str) -> list[Event]:
        """The typed events of a stream."""
        return [envelope.event() for envelope in self.read(stream_id)]

    def session_ids(self) -> list[str]:
        return [s.removeprefix("session-") for s in self.streams if s.startswith("session-")]

    # --- appending -------------------------------------------------------------------

    def append(self, emits: Sequence[Emit], input_id: str) -> list[EventEnvelope]:
        """Append `emits` as one transaction, like `workers.appending.Reader.append`:
        each stream's events in the order decided. A stream whose every event id is
        recorded already appends nothing (a duplicate); a partial overlap, or an id
        recorded in another stream, is an `EventIdConflict`."""
        by_stream: dict[str, list[NewEvent]] = {}
        for emit in emits:
            new = NewEvent.of(
                emit.event,
                event_id=derived_event_id(input_id, emit.name),
                occurred_at=emit.occurred_at,
                actor=emit.actor,
                correlation_id=input_id,
            )
            by_stream.setdefault(emit.stream_id, []).append(new)
        staged: list[tuple[str, list[NewEvent]]] = []
        for stream_id, events in by_stream.items():
            ids = [event.event_id for event in events]
            if len(set(ids)) != len(ids):
                raise EventIdConflict(f"one append names an event id twice: {ids}")
            recorded = {e.event_id for e in self.streams.get(stream_id, [])}
            known = [i for i in ids if i in self.step_of]
            if known and set(ids) <= recorded:
                continue  # a duplicate: recorded before, nothing to write
            if known:
                raise EventIdConflict(f"event ids {known} are recorded for other events")
            staged.append((stream_id, events))
        if not staged:
            return []
        self.step += 1
        appended: list[EventEnvelope] = []
        for stream_id, events in staged:
            stream = self.streams.setdefault(stream_id, [])
            for new in events:
                envelope = EventEnvelope(
                    **new.model_dump(),
                    stream_id=stream_id,
                    version=len(stream) + 1,
                    recorded_at=self.now,
                )
                stream.append(envelope)
                self.log.append(envelope)
                self.step_of[envelope.event_id] = self.step
                self._evolve_live(envelope)
                appended.append(envelope)
        return appended

    def _evolve_live(self, envelope: EventEnvelope) -> None:
        stream_id = envelope.stream_id
        if stream_id.startswith("session-"):
            self.live_sessions[stream_id] = evolve(self.live_sessions.get(stream_id), envelope)
        elif stream_id.startswith("lead-"):
            self.live_leads[stream_id] = evolve_lead(self.live_leads.get(stream_id), envelope)

    def replayed(self, stream_id: str) -> Session | Lead | System | None:
        """The stream folded from scratch, from envelopes as a store would hand them
        back (through JSON)."""
        stored = [EventEnvelope.from_json(e.to_json()) for e in self.read(stream_id)]
        if stream_id.startswith("session-"):
            return fold_session(stored)
        if stream_id.startswith("lead-"):
            return fold_lead(stored)
        return fold_system(stored)

    def live(self, stream_id: str) -> Session | Lead | System | None:
        if stream_id.startswith("session-"):
            return self.live_sessions.get(stream_id)
        if stream_id.startswith("lead-"):
            return self.live_leads.get(stream_id)
        return fold_system(self.read(stream_id))

    # --- the conversation worker -----------------------------------------------------

    def receive(
        self,
        from_hash: str,
        text: str | None = "oi",
        *,
        type: MessageType = MessageType.TEXT,
        sent_at: datetime | None = None,
        input_id: str | None = None,
        ref: str | None = None,
    ) -> Delivered:
        """Record a customer's message (`ConversationWorker._record`). `sent_at` is
        WhatsApp's timestamp, `now` by default."""
        input_id = input_id or self.next_id("in")
        ref = ref or hex64("wamid", input_id)
        if derived_event_id(input_id, MessageReceived.TYPE) in self.step_of:
            return Delivered(input_id, ref, None, [])
        lead = self.lead_of(from_hash)
        session = self.session(lead.session_id) if lead else None
        inbound = Inbound(input_id, message(from_hash, ref, text, type=type), sent_at or self.now)
        recorded = decide_inbound(lead, session, self.system(), inbound, self.now, self.policy)
        events = self.append(recorded.emits, input_id)
        self.input_of_ref[ref] = input_id
        return Delivered(input_id, ref, recorded, events)

    def draft(
        self,
        session_id: str,
        text: str = "Olá! Como posso ajudar?",
        *,
        fields: Iterable[FieldGuess] = (),
        handoff: Handoff | None = None,
        control_version: int | None = None,
        input_id: str | None = None,
    ) -> Drafted:
        """A responder's draft for what the session has pending now, under its current
        control version unless told otherwise. Named, like the worker names it, after
        the message that ends the burst."""
        session = self.must_session(session_id)
        assert session.pending, "nothing is pending"
        input_id = input_id or self.input_of_ref[session.pending[-1].ref]
        made = DraftMade(
            outbound_id=outbound_id_for(input_id),
            control_version=session.control_version if control_version is None else control_version,
            in_reply_to=session.pending_refs(),
            draft=Draft(text=text, fields=tuple(fields), handoff=handoff),
            responder="rules",
            latency_ms=1200,
        )
        return Drafted(session_id, input_id, made, self.now)

    def reply(self, drafted: Drafted) -> list[EventEnvelope]:
        """Claim or suppress a draft in the transaction that checks the gate
        (`Replies._claim`). Nothing when its outbound was drafted already."""
        session = self.must_session(drafted.session_id)
        if drafted.made.outbound_id in session.drafted:
            return []
        lead = self.must_lead(session.lead_id)
        emits = decide_reply(self.system(), session, lead, drafted.made, self.now, self.policy)
        return self.append(emits, f"{drafted.input_id}:reply")

    def answer(
        self,
        session_id: str,
        text: str = "Olá! Como posso ajudar?",
        *,
        fields: Iterable[FieldGuess] = (),
        handoff: Handoff | None = None,
    ) -> list[EventEnvelope] | None:
        """The worker's whole reply step once the burst is over: no draft while the gate
        is closed or nothing is pending; otherwise draft and claim at once."""
        session = self.must_session(session_id)
        lead = self.must_lead(session.lead_id)
        if closed_because(self.system(), session, session.control_version, self.now):
            return None
        if conversation_for(session, lead) is None:
            return None
        return self.reply(self.draft(session_id, text, fields=fields, handoff=handoff))

    # --- the command worker ----------------------------------------------------------

    def context(
        self,
        session_id: str | None,
        by: str = "ana",
        command_id: str | None = None,
        admin: bool = False,
    ) -> CommandContext:
        session = self.session(session_id) if session_id else None
        lead = self.lead(session.lead_id) if session else None
        return CommandContext(
            command_id or self.next_id("cmd"), by, self.now, session, lead, self.system(),
            requested_by_admin=admin,
        )  # fmt: skip

    def command(
        self, command: OperatorCommand, by: str = "ana", admin: bool = False
    ) -> Applied | Rejected:
        """Apply or reject `command` (`CommandWorker._decide`), recording the outcome on
        the command's stream."""
        target = getattr(command, "target_session_id", None)
        context = self.context(target, by, command.command_id, admin)
        stream = command_stream(context.command_id)
        try:
            applied = decide_command(command, context)
        except Rejected as rejection:
            rejected = CommandRejected(reason=str(rejection))
            self.append([Emit(stream, rejected, Actor.SYSTEM, self.now)], context.command_id)
            return rejection
        outcome = Emit(stream, CommandApplied(result=applied.result), Actor.SYSTEM, self.now)
        self.append([*applied.emits, outcome], context.command_id)
        return applied

    # --- the outbound sender ---------------------------------------------------------

    def _send_cause(self, session_id: str, outbound_id: str) -> str:
        for envelope in self.read(session_stream(session_id)):
            event = envelope.event()
            if isinstance(event, OutboundClaimed) and event.outbound_id == outbound_id:
                return f"{envelope.event_id}:send"
        raise AssertionError(f"outbound {outbound_id} was never claimed")

    def start_send(self, session_id: str, outbound_id: str) -> SendStep:
        """`OutboundSender._start`: start the send, or settle it before the API call."""
        session = self.must_session(session_id)
        step = decide_send(self.system(), session, outbound_id, self.now, self.policy.send_lease)
        self.append(step.emits, self._send_cause(session_id, outbound_id))
        return step

    def settle(
        self, session_id: str, outbound_id: str, outcome: SendOutcome
    ) -> list[EventEnvelope]:
        """`OutboundSender._settle`: record what the channel answered."""
        session = self.must_session(session_id)
        outbound = session.outbounds.get(outbound_id)
        if outbound is None or (outbound.settled and outbound.status is not MessageStatus.UNKNOWN):
            return []
        ref = hex64("wamid-out", outcome.wa_message_id) if isinstance(outcome, Sent) else None
        emits = settle_send(session, outbound_id, outcome, ref, self.now)
        return self.append(emits, self._send_cause(session_id, outbound_id))

    def report(self, wa_message_ref: str, status: WhatsAppStatus) -> list[EventEnvelope]:
        """A delivery status from WhatsApp (`ConversationWorker._status`)."""
        links = self.read(wamessage_stream(wa_message_ref))
        assert links, f"no outbound is linked to {wa_message_ref}"
        link = links[0].event()
        assert isinstance(link, WhatsAppMessageLinked)
        session = self.must_session(link.session_id)
        report = WhatsAppStatusReported(wa_message_ref=wa_message_ref, status=status)
        emits = decide_status(session, link.outbound_id, report, self.now)
        return self.append(emits, f"status-{wa_message_ref}-{status}")


def types_of(envelopes: Iterable[EventEnvelope]) -> list[str]:
    return [envelope.type for envelope in envelopes]


def sent_ref(wa_message_id: str) -> str:
    """The `wa_message_ref` the world records for a `Sent(wa_message_id)`."""
    return hex64("wamid-out", wa_message_id)
