"""Invariant 1, attacked: no automatic outbound unless the gate is open.

A hypothesis state machine drives a `World` through any interleaving of customer
messages (floods included, and redeliveries), drafts made under some (possibly stale)
control version and claimed later, operators' commands, sends and time passing. After
every step an oracle that knows nothing of the domain's gate re-reads what was
appended, in the world's global order, and checks:

1. every automatic `OutboundClaimed` (REPLY, FLOOD_WARNING) was claimed when, in the
   world just before it, the system was not paused, the session was `LLM_ACTIVE` at
   exactly the claim's control version, not closed or expired, inside the customer's
   24-hour window, and (for a REPLY) not in cooldown;
2. every `OutboundSendStarted` of an automatic outbound likewise, and any outbound's
   send starts at most once;
3. each cooldown has exactly one FLOOD_WARNING outbound, claimed or suppressed in the
   cooldown's own transaction; no warning is claimed otherwise, and no cooldown starts
   while another is active;
4. folding a stream from scratch (through JSON, as a store hands it back) equals the
   state evolved event by event as the events were appended.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from contracts.commands import Close, OperatorCommand, PauseAll, Release, ResumeAll, SendMessage
from contracts.commands import TakeOver as TakeOverCommand
from contracts.envelope import EventEnvelope
from contracts.events import (
    ControlChanged,
    CooldownEnded,
    CooldownStarted,
    GlobalModeChanged,
    MessageReceived,
    OutboundClaimed,
    OutboundKind,
    OutboundSendStarted,
    OutboundSuppressed,
    SessionClosed,
    SessionExpired,
)
from contracts.ports.channel import Ambiguous, Refused, SendOutcome, Sent
from contracts.vocabulary import (
    GlobalMode,
    MessageStatus,
    MessageType,
    SessionMode,
    SessionOutcome,
    WhatsAppStatus,
)
from domain.ids import outbound_id_for
from tests.unit.domain_world import Drafted, World, contact

AUTOMATIC = frozenset({OutboundKind.REPLY, OutboundKind.FLOOD_WARNING})
WINDOW = timedelta(hours=24)
CONTACTS = [contact("ana"), contact("bia")]
OPERATORS = ["ana", "bia"]
TEXTS = ["oi", "quanto custa?", "OI", "preciso de um app", "alô"]


# --- the oracle --------------------------------------------------------------------------


@dataclass
class Control:
    """What the oracle knows of one session, from its events alone."""

    mode: SessionMode = SessionMode.LLM_ACTIVE
    version: int = 0
    ended: bool = False
    cooldown: CooldownStarted | None = None
    last_inbound_at: datetime | None = None
    claims: dict[str, OutboundClaimed] = field(default_factory=dict)
    started: set[str] = field(default_factory=set)

    def in_cooldown(self, at: datetime) -> bool:
        return self.cooldown is not None and at < self.cooldown.until


@dataclass
class Oracle:
    paused: bool = False
    sessions: dict[str, Control] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    """A warning's outbound id → how many times it was claimed or suppressed unclaimed."""

    def check_step(self, envelopes: list[EventEnvelope]) -> None:
        """One transaction's events, in the order appended."""
        cooldowns: list[str] = []
        for envelope in envelopes:
            cooldowns += self._see(envelope)
        for outbound_id in cooldowns:
            assert self.warnings.get(outbound_id) == 1, "a cooldown without its one warning"

    def _open_gate(self, envelope: EventEnvelope, control_version: int, kind: OutboundKind) -> None:
        at = envelope.occurred_at
        session = self.sessions[envelope.stream_id]
        what = f"{kind} {envelope.type} ({envelope.stream_id} v{envelope.version})"
        assert not self.paused, f"{what} while everything was paused"
        assert session.mode is SessionMode.LLM_ACTIVE, f"{what} in mode {session.mode}"
        assert session.version == control_version, (
            f"{what} under v{control_version}, control at v{session.version}"
        )
        assert not session.ended, f"{what} in an ended session"
        assert session.last_inbound_at is not None, f"{what} before the customer wrote"
        assert at < session.last_inbound_at + WINDOW, f"{what} outside the 24-hour window"
        if kind is OutboundKind.REPLY:
            assert not session.in_cooldown(at), f"{what} during a cooldown"

    def _see(self, envelope: EventEnvelope) -> list[str]:
        """Check `envelope` against the world before it, then take it in. The flood
        warnings the event calls for (one per cooldown started)."""
        event = envelope.event()
        if isinstance(event, GlobalModeChanged):
            self.paused = event.mode is GlobalMode.PAUSED_GLOBAL
            return []
        if not envelope.stream_id.startswith("session-"):
            return []
        session = self.sessions.setdefault(envelope.stream_id, Control())
        if isinstance(event, MessageReceived):
            at = envelope.occurred_at
            latest = session.last_inbound_at
            session.last_inbound_at = at if latest is None or at > latest else latest
        elif isinstance(event, ControlChanged):
            assert event.version == session.version + 1, "a control change skipped a version"
            session.mode, session.version = event.mode, event.version
        elif isinstance(event, SessionClosed | SessionExpired):
            session.ended = True
        elif isinstance(event, CooldownStarted):
            assert not session.in_cooldown(envelope.occurred_at), "a cooldown within a cooldown"
            session.cooldown = event
            return [outbound_id_for(event.cooldown_id)]
        elif isinstance(event, CooldownEnded):
            if session.cooldown and session.cooldown.cooldown_id == event.cooldown_id:
                session.cooldown = None
        elif isinstance(event, OutboundClaimed):
            assert event.outbound_id not in session.claims, "an outbound claimed twice"
            if event.kind in AUTOMATIC:
                self._open_gate(envelope, event.control_version, event.kind)
            if event.kind is OutboundKind.FLOOD_WARNING:
                self._warned(session, event.outbound_id)
            session.claims[event.outbound_id] = event
        elif isinstance(event, OutboundSuppressed):
            if event.outbound_id not in session.claims and self._is_warning(session, event):
                self._warned(session, event.outbound_id)
        elif isinstance(event, OutboundSendStarted):
            claim = session.claims[event.outbound_id]
            assert event.outbound_id not in session.started, "a send started twice"
            session.started.add(event.outbound_id)
            if claim.kind in AUTOMATIC:
                self._open_gate(envelope, claim.control_version, claim.kind)
        return []

    def _is_warning(self, session: Control, event: OutboundSuppressed) -> bool:
        cooldown = session.cooldown
        return cooldown is not None and event.outbound_id == outbound_id_for(cooldown.cooldown_id)

    def _warned(self, session: Control, outbound_id: str) -> None:
        cooldown = session.cooldown
        assert cooldown is not None, "a flood warning outside any cooldown"
        assert outbound_id == outbound_id_for(cooldown.cooldown_id), "a warning of another cooldown"
        assert outbound_id not in self.warnings, "a second warning for one cooldown"
        self.warnings[outbound_id] = 1


# --- the machine -------------------------------------------------------------------------

contacts = st.sampled_from([CONTACTS[0], CONTACTS[0], CONTACTS[0], CONTACTS[1]])
operators = st.sampled_from([OPERATORS[0], OPERATORS[0], OPERATORS[1]])
pick = st.integers(0, 1_000)
answerable_kinds = st.sampled_from([MessageType.TEXT, MessageType.TEXT, MessageType.IMAGE])
message_kinds = answerable_kinds | st.just(MessageType.REACTION)
waits = st.sampled_from([0, 1, 2, 20])
expected_versions = st.sampled_from(["none", "current", "stale", "ahead"])
REPORTS: list[WhatsAppStatus] = [
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.READ,
    MessageStatus.FAILED,
]
COMMANDS = ["TAKEOVER", "RELEASE", "CLOSE", "PAUSE_ALL", "RESUME_ALL", "SEND_MESSAGE"]
"""And HOLDER_SENDS: SEND_MESSAGE by whoever holds the takeover."""


interruptions = st.sampled_from(
    [*COMMANDS, "HOLDER_SENDS", "FLOOD", "TAKEOVER_RELEASE", "A_DAY_PASSES"]
)
race_versions = st.sampled_from(["none", "current", "current", "stale"])
races = st.tuples(pick, interruptions, operators, race_versions)


class GateMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.world = World()
        self.oracle = Oracle()
        self.checked = 0
        self.replayed_to = 0
        self.drafts: list[Drafted] = []
        self.inputs: list[tuple[str, str]] = []
        self.sessions: dict[str, list[str]] = {who: [] for who in CONTACTS}

    # --- customers ---

    def _receive(self, who: str, text: str, kind: MessageType = MessageType.TEXT) -> None:
        delivered = self.world.receive(who, text, type=kind)
        assert delivered.recorded is not None
        self.inputs.append((who, delivered.input_id))
        known = self.sessions[who]
        if delivered.recorded.session_id not in known:
            known.append(delivered.recorded.session_id)

    @rule(
        who=contacts,
        text=st.sampled_from(TEXTS),
        kind=message_kinds,
        wait=waits,
        count=st.sampled_from([0, 1, 1, 1, 1, 1, 1, 2, 3, 6, 9, 32]),
        index=pick,
    )
    def customer_writes(
        self, who: str, text: str, kind: MessageType, wait: int, count: int, index: int
    ) -> None:
        """One message, or a burst of `count` (from 6 on, a flood); with `count` 0, the
        webhook delivers an earlier message again, which appends nothing."""
        if count == 0 and self.inputs:
            again, input_id = self.inputs[index % len(self.inputs)]
            assert self.world.receive(again, "oi", input_id=input_id).events == []
        elif count == 1:
            self._receive(who, text, kind)
            self.world.advance(timedelta(seconds=wait))
        else:
            self._burst(who, text, kind, count)

    def _burst(self, who: str, text: str, kind: MessageType, count: int) -> None:
        """`count` messages a second apart, every other one the same text."""
        for i in range(count):
            self._receive(who, text if i % 2 else f"{text} {i}", kind)
            self.world.advance(timedelta(seconds=1))

    # --- the bot ---

    def _waiting(self) -> list[str]:
        """The contacts' current sessions with messages waiting for an answer."""
        current = [self.world.current_session(who) for who in CONTACTS]
        return [session.session_id for session in current if session and session.pending]

    @precondition(lambda self: self._waiting())
    @rule(index=pick, shift=st.sampled_from([0, 0, -1, 1]), fresh=st.booleans())
    def responder_drafts(self, index: int, shift: int, fresh: bool) -> None:
        """A draft made now and claimed later, perhaps under a control version the
        session is not at (a responder that read a stale session)."""
        waiting = self._waiting()
        session = self.world.must_session(waiting[index % len(waiting)])
        version = max(session.control_version + shift, 0)
        input_id = self.world.next_id("draft") if fresh else None
        self.drafts.append(
            self.world.draft(session.session_id, control_version=version, input_id=input_id)
        )

    @precondition(lambda self: self.drafts)
    @rule(index=pick)
    def draft_is_claimed(self, index: int) -> None:
        self.world.reply(self.drafts.pop(index % len(self.drafts)))

    @precondition(lambda self: self._waiting())
    @rule(index=pick)
    def bot_answers(self, index: int) -> None:
        """The worker's own path: no draft while the gate is closed."""
        waiting = self._waiting()
        self.world.answer(waiting[index % len(waiting)])

    # --- operators ---

    @rule(
        kind=st.sampled_from([*COMMANDS, "TAKEOVER", "RELEASE", "RESUME_ALL", "HOLDER_SENDS"]),
        who=contacts,
        by=operators,
        expected=expected_versions,
        older=st.booleans(),
        block=st.sampled_from([None, 5, 120]),
    )
    def operator_commands(
        self, kind: str, who: str, by: str, expected: str, older: bool, block: int | None
    ) -> None:
        self._command(kind, who, by, expected, older, block)

    # The races take their arguments as one tuple: hypothesis favours rules with fewer
    # arguments, and these are the steps the gate exists for.

    @rule(race=races)
    def operator_races_a_draft(self, race: tuple[int, str, str, str]) -> None:
        """The race the gate exists for: while the responder drafts, an operator's
        command, a flood or a long wait intervenes; then the draft is claimed, and its
        send started."""
        drafted = self._draft_for_race(race)
        if drafted is None:
            return
        _, interruption, by, expected = race
        self._interrupt(drafted.session_id, interruption, by, expected)
        self.world.reply(drafted)
        self._start(drafted)

    @rule(race=races)
    def operator_races_a_send(self, race: tuple[int, str, str, str]) -> None:
        """The same race one step later: the reply is claimed, then a command, a flood
        or a long wait intervenes before the sender starts it."""
        drafted = self._draft_for_race(race)
        if drafted is None:
            return
        _, interruption, by, expected = race
        self.world.reply(drafted)
        self._interrupt(drafted.session_id, interruption, by, expected)
        self._start(drafted)

    def _draft_for_race(self, race: tuple[int, str, str, str]) -> Drafted | None:
        """A draft for what a contact has pending, the contact writing first if nothing
        is; None when the message was set aside at once (a cooldown, a closed session)."""
        who = CONTACTS[race[0] % len(CONTACTS)]
        session = self.world.current_session(who)
        if session is None or not session.pending:
            self._receive(who, "quanto custa?")
            session = self.world.current_session(who)
        if session is None or not session.pending:
            return None
        return self.world.draft(session.session_id)

    def _interrupt(self, session_id: str, interruption: str, by: str, expected: str) -> None:
        who = self.world.must_session(session_id).from_hash
        if interruption == "FLOOD":
            self._burst(who, "oi", MessageType.TEXT, 9)
        elif interruption == "A_DAY_PASSES":
            self.world.advance(timedelta(hours=24))
        elif interruption == "TAKEOVER_RELEASE":
            self._command("TAKEOVER", who, by, expected, False, None)
            self._command("RELEASE", who, by, expected, False, None)
        else:
            self._command(interruption, who, by, expected, False, None)

    def _start(self, drafted: Drafted) -> None:
        if drafted.made.outbound_id in self.world.must_session(drafted.session_id).outbounds:
            self.world.start_send(drafted.session_id, drafted.made.outbound_id)

    def _command(
        self, kind: str, who: str, by: str, expected: str, older: bool, block: int | None
    ) -> None:
        known = self.sessions[who]
        if not known and kind not in ("PAUSE_ALL", "RESUME_ALL"):
            return
        current = self.world.current_session(who)
        target = known[0] if older and known else (current.session_id if current else "")
        session = self.world.session(target) if target else None
        if kind in ("PAUSE_ALL", "RESUME_ALL"):
            version = self.world.system().control_version
        else:
            version = session.control_version if session else 0
        cas = {"none": None, "current": version, "stale": max(version - 1, 0), "ahead": version + 1}
        cv = cas[expected]
        command: OperatorCommand
        if kind == "TAKEOVER":
            command = TakeOverCommand(
                target_session_id=target, reason="r", expected_control_version=cv
            )
        elif kind == "RELEASE":
            command = Release(target_session_id=target, reason="r", expected_control_version=cv)
        elif kind == "CLOSE":
            command = Close(
                target_session_id=target, reason="r", outcome=SessionOutcome.OTHER,
                reopen_cooldown_minutes=block, expected_control_version=cv,
            )  # fmt: skip
        elif kind in ("SEND_MESSAGE", "HOLDER_SENDS"):
            command = SendMessage(target_session_id=target, text="Oi!", expected_control_version=cv)
            if kind == "HOLDER_SENDS" and session and session.assignee:
                by = session.assignee
        elif kind == "PAUSE_ALL":
            command = PauseAll(reason="r", expected_control_version=cv)
        else:
            command = ResumeAll(reason="r", expected_control_version=cv)
        self.world.command(command, by=by)

    # --- the sender ---

    def _unsettled(self) -> list[tuple[str, str]]:
        return [
            (session_id, outbound_id)
            for session_id in sorted(self.world.session_ids())
            for outbound_id, outbound in self.world.must_session(session_id).outbounds.items()
            if not outbound.settled
        ]

    @precondition(lambda self: self._unsettled())
    @rule(index=pick, outcome=st.sampled_from(["sent", "refused", "ambiguous", "crash"]))
    def sender_sends(self, index: int, outcome: str) -> None:
        unsettled = self._unsettled()
        session_id, outbound_id = unsettled[index % len(unsettled)]
        step = self.world.start_send(session_id, outbound_id)
        if not step.send or outcome == "crash":
            return
        answers: dict[str, SendOutcome] = {
            "sent": Sent(wa_message_id=outbound_id),
            "refused": Refused(error_code=131026, reason="undeliverable"),
            "ambiguous": Ambiguous(reason="timeout"),
        }
        self.world.settle(session_id, outbound_id, answers[outcome])

    def _sent(self) -> list[str]:
        return [
            outbound.wa_message_ref
            for session_id in sorted(self.world.session_ids())
            for outbound in self.world.must_session(session_id).outbounds.values()
            if outbound.wa_message_ref
        ]

    @precondition(lambda self: self._sent())
    @rule(index=pick, status=st.sampled_from(REPORTS))
    def whatsapp_reports(self, index: int, status: WhatsAppStatus) -> None:
        sent = self._sent()
        self.world.report(sent[index % len(sent)], status)

    # --- time ---

    @rule(delta=st.sampled_from([30, 300, 3_600, 7 * 3_600, 24 * 3_600]))
    def time_passes(self, delta: int) -> None:
        self.world.advance(timedelta(seconds=delta))

    # --- the invariants ---

    @invariant()
    def the_gate_held(self) -> None:
        new = self.world.log[self.checked :]
        self.checked = len(self.world.log)
        for _, step in groupby(new, key=lambda e: self.world.step_of[e.event_id]):
            self.oracle.check_step(list(step))

    @invariant()
    def replay_equals_live(self) -> None:
        touched = {e.stream_id for e in self.world.log[self.replayed_to :]}
        self.replayed_to = len(self.world.log)
        for stream_id in touched:
            if stream_id.startswith(("session-", "lead-", "system")):
                assert self.world.replayed(stream_id) == self.world.live(stream_id), stream_id


GateMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
TestGate = GateMachine.TestCase
