"""Every operator command through the real command worker, on each back end: what it
changes, what it refuses and why, and the audit trail (who, when, why) it leaves.

The responder is the offline `rules` one, counted, so that "the bot was not even
asked" is a fact; the channel is the Graph API served by `tests/fake_graph.py`.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from adapters.llm.rules import RulesResponder
from adapters.whatsapp.graph import GraphChannel
from contracts.commands import (
    AddNote,
    Close,
    ForgetContact,
    MarkReadyForHuman,
    OperatorCommand,
    PauseAll,
    Release,
    ResumeAll,
    SendMessage,
    TakeOver,
)
from contracts.envelope import Actor, EventEnvelope
from contracts.operators import Role
from contracts.ports.bus import Bus
from contracts.ports.responder import Conversation, Draft, Responder
from contracts.ports.vault import ContactIdentity
from contracts.snapshots.command import Command
from contracts.streams import SYSTEM_STREAM, command_stream, contact_stream, lead_stream
from contracts.topics import COMMANDS_TOPIC, EVENTS_TOPIC, INBOUND_TOPIC
from contracts.vocabulary import (
    GlobalMode,
    HandoffReason,
    LeadStatus,
    Priority,
    SessionMode,
    SessionOutcome,
)
from domain.ids import lead_id_for
from domain.lead import fold_lead
from ingress import samples
from ingress.errors import Conflicting, Forbidden
from tests.backends import Backend, number_in
from tests.fake_graph import FakeGraph, fake_graph
from tests.pipeline import PHONE, Pipeline, eventually, pipeline_on, running

OTHER_PHONE = "+5521988887777"


# --- what the harness does not have ------------------------------------------------------


class ShiftedClock:
    """The wall clock, moved forward on demand: "an hour later" without waiting."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta

    def timestamp(self) -> int:
        """WhatsApp's timestamp of a message written now."""
        return int(self().timestamp())


class CountingResponder:
    """A responder that counts its drafts."""

    def __init__(self, inner: Responder) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self.calls = 0

    @property
    def name(self) -> str:
        return self._inner.name

    def draft(self, conversation: Conversation) -> Draft:
        with self._lock:
            self.calls += 1
        return self._inner.draft(conversation)


class Probe:
    """A subscription of its own on the `events` topic: what the workers published."""

    SUBSCRIPTION = "test-probe"

    def __init__(self, bus: Bus) -> None:
        self._lock = threading.Lock()
        self._seen: list[EventEnvelope] = []
        bus.declare(EVENTS_TOPIC, self.SUBSCRIPTION)
        bus.subscribe(self.SUBSCRIPTION, self._on, max_in_flight=8)

    def _on(self, envelope: EventEnvelope) -> None:
        with self._lock:
            self._seen.append(envelope)

    def seen(self, event_id: str) -> bool:
        with self._lock:
            return any(envelope.event_id == event_id for envelope in self._seen)


def stays(condition: Callable[[], bool], seconds: float = 1.5, what: str = "") -> None:
    """`condition` holds now and for the next `seconds` (for what must not happen)."""
    deadline = time.monotonic() + seconds
    while True:
        assert condition(), f"no longer true: {what or condition}"
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with fake_graph() as server:
        yield server


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def responder() -> CountingResponder:
    return CountingResponder(RulesResponder())


@pytest.fixture
def pipeline(
    backend: Backend, graph: FakeGraph, clock: ShiftedClock, responder: CountingResponder
) -> Iterator[Pipeline]:
    channel = GraphChannel("graph-token", api_base=graph.base_url, backoff_s=(0.01, 0.05))
    with pipeline_on(backend, responder, channel) as opened:
        opened.clock = clock
        with running(opened):
            yield opened
    channel.close()


# --- helpers -----------------------------------------------------------------------------


def conversation(
    pipeline: Pipeline, phone: str = PHONE, text: str = "Olá, quero um orçamento"
) -> str:
    """A customer writes and the bot's reply goes out; the session's id."""
    pipeline.say(text, phone=phone, timestamp=_now(pipeline))
    session_id = pipeline.session_id(phone)
    pipeline.wait_for(session_id, "OutboundSent")
    return session_id


def _now(pipeline: Pipeline) -> int:
    return int(pipeline.clock().timestamp())


def decide(
    pipeline: Pipeline, command: OperatorCommand, by: str = "ana", role: Role = Role.OPERATOR
) -> Command:
    """Submit `command` as `by` and wait for the command worker's decision; checks the
    audit trail it leaves on the command's stream."""
    command_id = pipeline.command(command, by=by, role=role)
    decided = pipeline.decided(command_id)
    requested, outcome = pipeline.store.read(command_stream(command_id))
    assert requested.type == "CommandRequested"
    assert requested.actor is Actor.HUMAN
    assert requested.payload["requested_by"] == by
    assert requested.payload["command"]["type"] == command.type
    assert outcome.type == ("CommandApplied" if decided.status == "APPLIED" else "CommandRejected")
    assert outcome.causation_id == requested.event_id
    assert outcome.correlation_id == command_id
    assert decided.requested_by == by
    assert decided.result
    assert decided.decided_at is not None
    assert decided.decided_at >= decided.requested_at
    return decided


def last(pipeline: Pipeline, session_id: str, event_type: str) -> EventEnvelope:
    return [e for e in pipeline.events(session_id) if e.type == event_type][-1]


def lead_events(pipeline: Pipeline, phone: str = PHONE) -> list[EventEnvelope]:
    lead_id = lead_id_for(pipeline.vault.contact_hash(phone))
    return pipeline.store.read(lead_stream(lead_id))


def lead_status(pipeline: Pipeline, phone: str = PHONE) -> LeadStatus:
    lead = pipeline.lead(phone)
    assert lead is not None
    return lead.status


def next_session(pipeline: Pipeline, *earlier: str) -> str:
    """The contact's current session, once it is none of `earlier`."""

    def probe() -> str | None:
        current = pipeline.session_id()
        return None if current in earlier else current

    return eventually(probe, what="a new session")


# --- TAKEOVER and RELEASE ------------------------------------------------------------------


def test_a_takeover_gives_the_lead_to_the_operator_and_the_bot_is_not_asked_again(
    pipeline: Pipeline, responder: CountingResponder, graph: FakeGraph
) -> None:
    session_id = conversation(pipeline)
    assert lead_status(pipeline) is LeadStatus.QUALIFYING
    calls, sent = responder.calls, len(graph.requests)

    decided = decide(pipeline, TakeOver(target_session_id=session_id, reason="cliente VIP"))

    assert decided.status == "APPLIED"
    assert decided.result == "control v0 → v1: HUMAN_TAKEOVER by ana"
    session = pipeline.session(session_id)
    assert (session.mode, session.assignee, session.control_version) == (
        SessionMode.HUMAN_TAKEOVER, "ana", 1,
    )  # fmt: skip
    changed = last(pipeline, session_id, "ControlChanged")
    assert changed.actor is Actor.HUMAN
    assert changed.payload | {"by": "ana", "reason": "cliente VIP", "version": 1} == changed.payload
    assert lead_status(pipeline) is LeadStatus.IN_HUMAN
    (in_human,) = [e for e in lead_events(pipeline) if e.payload.get("status") == "IN_HUMAN"]
    assert in_human.payload["by"] == "ana"
    assert in_human.payload["previous_status"] == "QUALIFYING"

    pipeline.say("alguém aí?", timestamp=_now(pipeline))
    pipeline.wait_for(session_id, "MessageReceived", count=2)

    stays(lambda: responder.calls == calls, what="the responder is not called")
    assert len(graph.requests) == sent
    assert pipeline.count(session_id, "ReplyDrafted") == 1
    assert pipeline.count(session_id, "OutboundClaimed") == 1


def test_a_second_operator_cannot_take_over_a_conversation_someone_holds(
    pipeline: Pipeline,
) -> None:
    session_id = conversation(pipeline)
    decide(pipeline, TakeOver(target_session_id=session_id, reason="eu atendo"))

    again = decide(pipeline, TakeOver(target_session_id=session_id, reason="eu"), by="ana")
    stolen = decide(pipeline, TakeOver(target_session_id=session_id, reason="eu"), by="bruno")

    assert (again.status, again.result) == ("APPLIED", "already yours (control v1)")
    assert stolen.status == "REJECTED"
    assert stolen.result == "ana holds this conversation; they must release it first"
    assert pipeline.session(session_id).assignee == "ana"
    assert pipeline.count(session_id, "ControlChanged") == 1


def test_after_a_release_the_bot_answers_again(
    pipeline: Pipeline, responder: CountingResponder
) -> None:
    session_id = conversation(pipeline)
    decide(pipeline, TakeOver(target_session_id=session_id, reason="dúvida técnica"))

    released = decide(pipeline, Release(target_session_id=session_id, reason="resolvido"))
    calls = responder.calls
    pipeline.say("e o prazo?", timestamp=_now(pipeline))

    assert released.status == "APPLIED"
    assert released.result == "control v1 → v2: LLM_ACTIVE"
    changed = last(pipeline, session_id, "ControlChanged")
    assert changed.payload["mode"] == "LLM_ACTIVE"
    assert changed.payload["by"] == "ana"
    assert changed.payload["reason"] == "resolvido"
    assert changed.payload["human_assignee"] is None
    assert lead_status(pipeline) is LeadStatus.QUALIFYING
    pipeline.wait_for(session_id, "OutboundSent", count=2)
    assert responder.calls == calls + 1
    reply = last(pipeline, session_id, "OutboundClaimed")
    assert reply.actor is Actor.LLM
    assert reply.payload["kind"] == "REPLY"
    assert reply.payload["control_version"] == 2


# --- CLOSE -------------------------------------------------------------------------------


def test_close_records_outcome_and_note_and_blocks_reopening_for_a_while(
    pipeline: Pipeline, clock: ShiftedClock, responder: CountingResponder
) -> None:
    session_id = conversation(pipeline)
    close = Close(
        target_session_id=session_id, reason="proposta aceita", outcome=SessionOutcome.QUALIFIED,
        note="enviar contrato na segunda", reopen_cooldown_minutes=30,
    )  # fmt: skip

    closed = decide(pipeline, close)

    assert closed.status == "APPLIED"
    assert (closed.result or "").startswith("closed with outcome QUALIFIED; no new session before ")
    event = last(pipeline, session_id, "SessionClosed")
    assert event.actor is Actor.HUMAN
    assert event.payload["outcome"] == "QUALIFIED"
    assert event.payload["note"] == "enviar contrato na segunda"
    assert event.payload["reason"] == "proposta aceita"
    assert event.payload["closed_by"] == "ana"
    blocked_until = datetime.fromisoformat(event.payload["reopen_blocked_until"])
    assert blocked_until == event.occurred_at + timedelta(minutes=30)
    assert lead_status(pipeline) is LeadStatus.CLOSED
    closed_lead = [e for e in lead_events(pipeline) if e.payload.get("status") == "CLOSED"]
    assert closed_lead[0].payload["reason"] == "closed: QUALIFIED"

    # within the block: logged in the closed session, not answered, the lead stays closed
    calls = responder.calls
    clock.advance(timedelta(minutes=10))
    pipeline.say("ainda estão aí?", timestamp=clock.timestamp())
    pipeline.wait_for(session_id, "MessageReceived", count=2)
    stays(lambda: responder.calls == calls, what="the responder is not called")
    assert pipeline.count(session_id, "OutboundClaimed") == 1
    assert pipeline.session_id() == session_id
    assert lead_status(pipeline) is LeadStatus.CLOSED

    # after the block: a new session, the lead opens again, the bot answers
    clock.advance(timedelta(minutes=21))
    pipeline.say("bom dia, voltei", timestamp=clock.timestamp())
    new_session = next_session(pipeline, session_id)
    pipeline.wait_for(new_session, "OutboundSent")
    reopened = [e for e in lead_events(pipeline) if e.payload.get("previous_status") == "CLOSED"]
    assert reopened[0].payload["status"] == "OPEN"
    assert reopened[0].payload["reason"] == "a new session started"
    assert lead_status(pipeline) is LeadStatus.QUALIFYING
    assert pipeline.session(new_session).mode is SessionMode.LLM_ACTIVE
    assert pipeline.count(session_id, "MessageReceived") == 2  # nothing more in the old one

    twice = decide(pipeline, close)
    assert (twice.status, twice.result) == ("REJECTED", "the session is closed already")


def test_close_without_a_block_lets_the_next_message_open_a_new_session(
    pipeline: Pipeline,
) -> None:
    session_id = conversation(pipeline)
    decide(
        pipeline,
        Close(target_session_id=session_id, reason="spam", outcome=SessionOutcome.SPAM),
    )

    pipeline.say("oi de novo", timestamp=_now(pipeline))

    new_session = next_session(pipeline, session_id)
    pipeline.wait_for(new_session, "OutboundSent")
    assert last(pipeline, session_id, "SessionClosed").payload["reopen_blocked_until"] is None


# --- MARK_READY_FOR_HUMAN ----------------------------------------------------------------


def test_marking_ready_for_a_human_is_a_handoff_and_the_bot_keeps_collecting(
    pipeline: Pipeline,
) -> None:
    session_id = conversation(pipeline)

    marked = decide(
        pipeline,
        MarkReadyForHuman(
            target_session_id=session_id, reason="pediu proposta formal", priority=Priority.HIGH
        ),
    )

    assert (marked.status, marked.result) == ("APPLIED", "lead ready for a human (HIGH)")
    lead = pipeline.lead()
    assert lead is not None
    assert lead.status is LeadStatus.READY_FOR_HUMAN
    assert lead.priority is Priority.HIGH
    assert lead.handoff_reason is HandoffReason.OPERATOR_MARKED
    (event,) = [e for e in lead_events(pipeline) if e.type == "LeadMarkedReadyForHuman"]
    assert event.actor is Actor.HUMAN
    assert event.payload["by"] == "ana"
    assert event.payload["detail"] == "pediu proposta formal"
    assert event.payload["session_id"] == session_id
    assert pipeline.session(session_id).mode is SessionMode.LLM_ACTIVE

    pipeline.say("somos a Acme, de Curitiba", timestamp=_now(pipeline))
    pipeline.wait_for(session_id, "OutboundSent", count=2)
    assert last(pipeline, session_id, "OutboundClaimed").actor is Actor.LLM
    assert lead_status(pipeline) is LeadStatus.READY_FOR_HUMAN

    decide(pipeline, TakeOver(target_session_id=session_id, reason="assumindo"))
    late = decide(pipeline, MarkReadyForHuman(target_session_id=session_id, reason="de novo"))
    assert (late.status, late.result) == ("REJECTED", "a human has this lead already")
    assert lead_status(pipeline) is LeadStatus.IN_HUMAN


# --- PAUSE_ALL and RESUME_ALL -------------------------------------------------------------


def test_only_an_admin_may_pause_or_resume_everything(pipeline: Pipeline) -> None:
    for command in (
        PauseAll(reason="incidente", command_id="pause-by-operator"),
        ResumeAll(reason="ok", command_id="resume-by-operator"),
    ):
        with pytest.raises(Forbidden, match=f"only an admin may request {command.type}"):
            pipeline.command(command, by="ana", role=Role.OPERATOR)

        assert pipeline.store.read(command_stream(str(command.command_id))) == []
    assert pipeline.system().mode is GlobalMode.LLM_ACTIVE


def test_pause_all_silences_every_session_until_resume_all(
    pipeline: Pipeline, responder: CountingResponder, graph: FakeGraph
) -> None:
    first = conversation(pipeline)
    second = conversation(pipeline, phone=OTHER_PHONE)

    paused = decide(pipeline, PauseAll(reason="o bot está errando preços"), "root", Role.ADMIN)

    assert (paused.status, paused.result) == (
        "APPLIED", "global control v0 → v1: PAUSED_GLOBAL",
    )  # fmt: skip
    (changed,) = pipeline.store.read(SYSTEM_STREAM)
    assert changed.actor is Actor.HUMAN
    assert changed.payload | {"by": "root", "reason": "o bot está errando preços"} == (
        changed.payload
    )
    calls, sent = responder.calls, len(graph.requests)
    pipeline.say("quanto custa?", timestamp=_now(pipeline))
    pipeline.say("alô?", phone=OTHER_PHONE, timestamp=_now(pipeline))
    pipeline.wait_for(first, "MessageReceived", count=2)
    pipeline.wait_for(second, "MessageReceived", count=2)
    stays(lambda: responder.calls == calls, what="the responder is not called")
    assert len(graph.requests) == sent

    stale = decide(pipeline, ResumeAll(reason="x", expected_control_version=0), "root", Role.ADMIN)
    resumed = decide(pipeline, ResumeAll(reason="preços corrigidos"), "root", Role.ADMIN)
    pipeline.say("e agora?", timestamp=_now(pipeline))

    assert stale.status == "REJECTED"
    assert stale.result == "the global control changed since you looked (expected v0, at v1)"
    assert (resumed.status, resumed.result) == (
        "APPLIED", "global control v1 → v2: LLM_ACTIVE; answering the sessions that waited",
    )  # fmt: skip
    pipeline.wait_for(first, "OutboundSent", count=2)
    assert pipeline.system().control_version == 2
    assert last(pipeline, first, "OutboundClaimed").payload["global_version"] == 2


# --- SEND_MESSAGE and ADD_NOTE -------------------------------------------------------------


def test_only_the_operator_holding_the_takeover_may_send_and_it_goes_out_as_human(
    pipeline: Pipeline, graph: FakeGraph, responder: CountingResponder
) -> None:
    session_id = conversation(pipeline)
    text = "Oi, aqui é a Ana, da equipe comercial."

    unheld = decide(pipeline, SendMessage(target_session_id=session_id, text=text))
    decide(pipeline, TakeOver(target_session_id=session_id, reason="assumindo"))
    other = decide(pipeline, SendMessage(target_session_id=session_id, text=text), by="bruno")
    calls = responder.calls
    sent = decide(pipeline, SendMessage(target_session_id=session_id, text=text, reason="contato"))

    assert unheld.status == "REJECTED"
    assert (
        unheld.result
        == "only the operator holding the takeover may send (nobody has taken it over)"
    )
    assert other.status == "REJECTED"
    assert other.result == "only the operator holding the takeover may send (ana holds it)"
    assert sent.status == "APPLIED"
    assert (sent.result or "").endswith("queued for sending")
    pipeline.wait_for(session_id, "OutboundSent", count=2)
    claimed = last(pipeline, session_id, "OutboundClaimed")
    assert claimed.actor is Actor.HUMAN
    assert claimed.payload | {"kind": "OPERATOR", "by": "ana", "text": text} == claimed.payload
    assert pipeline.count(session_id, "OutboundClaimed") == 2  # the bot's reply, then Ana's
    request = graph.requests[-1]
    assert request.json["text"]["body"] == text
    assert request.json["to"] == PHONE.removeprefix("+")
    assert responder.calls == calls


def test_an_operator_message_outside_the_24_hour_window_is_refused_with_the_reason(
    pipeline: Pipeline, clock: ShiftedClock, graph: FakeGraph
) -> None:
    session_id = conversation(pipeline)
    decide(pipeline, TakeOver(target_session_id=session_id, reason="assumindo"))
    sent = len(graph.requests)
    clock.advance(timedelta(hours=25))

    late = decide(pipeline, SendMessage(target_session_id=session_id, text="Ainda precisa?"))

    assert late.status == "REJECTED"
    assert late.result == (
        "the 24-hour customer window is closed: a free-form message cannot be sent"
    )
    assert pipeline.count(session_id, "OutboundClaimed") == 1
    assert len(graph.requests) == sent


def test_a_note_is_recorded_and_never_sent(pipeline: Pipeline, graph: FakeGraph) -> None:
    session_id = conversation(pipeline)
    sent = len(graph.requests)

    noted = decide(pipeline, AddNote(target_session_id=session_id, text="cliente pediu desconto"))

    assert (noted.status, noted.result) == ("APPLIED", "note added")
    note = last(pipeline, session_id, "NoteAdded")
    assert note.actor is Actor.HUMAN
    assert note.payload == {"text": "cliente pediu desconto", "by": "ana"}
    stays(lambda: len(graph.requests) == sent, seconds=0.5, what="nothing is sent")
    assert pipeline.count(session_id, "OutboundClaimed") == 1


# --- what operators write: masked where it is kept, as typed to the customer --------------

TYPED_NUMBER = "+55 21 98888-7777"
"""Not the customer's number: it can only get into the store through what was typed."""
TYPED_DIGITS = ("988887777", "98888-7777")


def every_event_json(pipeline: Pipeline) -> str:
    pages, cursor = [], None
    while True:
        page = pipeline.store.read_all(cursor)
        pages += [envelope.model_dump_json() for envelope in page.events]
        if page.cursor is None:
            return "\n".join(pages)
        cursor = page.cursor


def test_numbers_operators_type_are_masked_where_kept_and_sent_as_typed(
    pipeline: Pipeline, graph: FakeGraph
) -> None:
    session_id = conversation(pipeline)
    full_width = "ligar no " + "21988887777".translate({c: c + 0xFEE0 for c in range(48, 58)})
    message = f"Pode me ligar no {TYPED_NUMBER} ou escrever para ana@example.com"

    decided = [
        decide(pipeline, TakeOver(target_session_id=session_id, reason=f"pediu {TYPED_NUMBER}")),
        decide(pipeline, AddNote(target_session_id=session_id, text=full_width)),
        decide(pipeline, SendMessage(target_session_id=session_id, text=message)),
        decide(pipeline, PauseAll(reason=f"ligar {TYPED_NUMBER}"), role=Role.ADMIN),
        decide(pipeline, ResumeAll(reason=f"ok {TYPED_NUMBER}"), role=Role.ADMIN),
        decide(
            pipeline,
            Close(
                target_session_id=session_id,
                reason=f"fechado {TYPED_NUMBER}",
                outcome=SessionOutcome.QUALIFIED,
                note=f"ligou do {TYPED_NUMBER}",
            ),
        ),
    ]

    assert [d.status for d in decided] == ["APPLIED"] * len(decided), decided
    pipeline.wait_for(session_id, "OutboundSent", count=2)
    assert graph.requests[-1].json["text"]["body"] == message
    kept = every_event_json(pipeline)
    assert not any(digits in kept for digits in TYPED_DIGITS)
    assert "ana@example.com" not in kept
    assert "[telefone]" in last(pipeline, session_id, "NoteAdded").payload["text"]
    claimed = last(pipeline, session_id, "OutboundClaimed").payload
    assert claimed["text"] == "Pode me ligar no [telefone] ou escrever para [email]"


def test_an_operator_s_message_dies_with_the_contact(pipeline: Pipeline, graph: FakeGraph) -> None:
    session_id = conversation(pipeline)
    decide(pipeline, TakeOver(target_session_id=session_id, reason="assumindo"))
    decide(pipeline, SendMessage(target_session_id=session_id, text=f"Ligue {TYPED_NUMBER}"))
    pipeline.wait_for(session_id, "OutboundSent", count=2)
    claimed = last(pipeline, session_id, "OutboundClaimed").payload
    sealed = base64.b64decode(claimed["sealed_text"])
    assert pipeline.vault.unseal_for(claimed["to_hash"], sealed) == f"Ligue {TYPED_NUMBER}".encode()

    forgot = decide(
        pipeline, ForgetContact(target_session_id=session_id, reason="LGPD"), role=Role.ADMIN
    )

    assert forgot.status == "APPLIED", forgot.result
    assert pipeline.vault.unseal_for(claimed["to_hash"], sealed) is None


def test_a_retry_of_a_message_is_the_same_command_and_another_text_is_not(
    pipeline: Pipeline,
) -> None:
    session_id = conversation(pipeline)
    first = SendMessage(
        command_id="c-msg-1", target_session_id=session_id, text="Ligue 21988887777"
    )

    assert pipeline.command(first) == "c-msg-1"
    assert pipeline.command(first) == "c-msg-1"
    with pytest.raises(Conflicting):
        pipeline.command(first.model_copy(update={"text": "Ligue 21977776666"}))


# --- a customer known by their business-scoped user id ----------------------------------

BSUID = "BR.1502576394655843"


def say_as(pipeline: Pipeline, text: str, user_id: str | None, phone: str | None) -> None:
    """A text from a customer as Meta names them: by BSUID, number, or both."""
    item = samples.message(
        "text", phone=phone, text=text, user_id=user_id, timestamp=_now(pipeline)
    )
    contact = samples.contact(phone, user_id)
    body = samples.body(samples.change(messages=[item], contacts=[contact]))
    pipeline.bus.publish(INBOUND_TOPIC, pipeline.webhook_envelopes(body))


def _sent_at_least(graph: FakeGraph, count: int) -> bool | None:
    return len(graph.requests) >= count or None


def bsuid_lead_id(pipeline: Pipeline) -> str:
    return lead_id_for(pipeline.vault.contact_hash(BSUID))


def test_a_customer_known_only_by_bsuid_is_answered_through_recipient(
    pipeline: Pipeline, graph: FakeGraph
) -> None:
    say_as(pipeline, "Olá, quero um orçamento", BSUID, None)

    lead = eventually(lambda: fold_lead(pipeline.store.read(lead_stream(bsuid_lead_id(pipeline)))))
    pipeline.wait_for(lead.session_id, "OutboundSent")
    (request,) = graph.requests
    assert request.json["recipient"] == BSUID
    assert "to" not in request.json


@pytest.mark.parametrize("first", ["bsuid", "number"])
def test_one_customer_seen_by_bsuid_and_by_number_is_one_lead(
    pipeline: Pipeline, graph: FakeGraph, first: str
) -> None:
    ways = [(BSUID, None), (BSUID, PHONE), (None, PHONE)]
    for answered, (user_id, phone) in enumerate(ways if first == "bsuid" else ways[::-1], 1):
        say_as(pipeline, "oi", user_id, phone)
        eventually(partial(_sent_at_least, graph, answered), what=f"reply {answered}")

    hashes = {pipeline.vault.contact_of(ContactIdentity(bsuid=BSUID)),
              pipeline.vault.contact_of(ContactIdentity(e164=PHONE))}  # fmt: skip
    assert len(hashes) == 1
    (from_hash,) = hashes
    assert from_hash is not None
    events = pipeline.store.read(lead_stream(lead_id_for(from_hash)))
    assert [e.type for e in events].count("LeadOpened") == 1
    addressed = [r.json.get("to") or r.json.get("recipient") for r in graph.requests]
    assert addressed == ([BSUID] if first == "bsuid" else []) + ["5511999990001"] * (
        2 if first == "bsuid" else 3
    )


# --- FORGET_CONTACT ------------------------------------------------------------------------


def test_forgetting_a_contact_erases_the_number_and_later_sends_are_refused(
    pipeline: Pipeline, graph: FakeGraph
) -> None:
    session_id = conversation(pipeline)
    from_hash = pipeline.vault.contact_hash(PHONE)
    decide(pipeline, TakeOver(target_session_id=session_id, reason="LGPD"))
    with pytest.raises(Forbidden, match="only an admin may request FORGET_CONTACT"):
        pipeline.command(ForgetContact(target_session_id=session_id, reason="pedido do titular"))
    assert number_in(pipeline.vault, from_hash) == PHONE
    identity = pipeline.vault.reveal(from_hash)
    assert identity is not None
    assert identity.profile_name == "Ana Lima"

    forgot = decide(
        pipeline,
        ForgetContact(target_session_id=session_id, reason="pedido do titular"),
        "root",
        Role.ADMIN,
    )

    assert forgot.status == "APPLIED"
    assert number_in(pipeline.vault, from_hash) is None
    assert pipeline.vault.reveal(from_hash) is None, "the name is erased with the number"
    (lead_forgotten,) = [e for e in lead_events(pipeline) if e.type == "LeadForgotten"]
    assert lead_forgotten.payload == {"by": "root", "reason": "pedido do titular"}
    contact = pipeline.store.read(contact_stream(from_hash))
    assert [e.type for e in contact] == ["ContactForgotten"]
    assert contact[0].payload == {"by": "root", "reason": "pedido do titular"}
    lead = pipeline.lead()
    assert lead is not None
    assert lead.forgotten_at is not None

    sent = len(graph.requests)
    refused = decide(pipeline, SendMessage(target_session_id=session_id, text="Ainda está aí?"))
    assert refused.status == "REJECTED"
    assert refused.result == (
        "the contact's number was erased (FORGET_CONTACT); they must write again"
    )
    assert pipeline.count(session_id, "OutboundClaimed") == 1  # the bot's first reply only
    assert len(graph.requests) == sent


# --- compare-and-set and redelivery -----------------------------------------------------


def test_a_command_made_on_a_stale_control_version_is_rejected_with_the_reason(
    pipeline: Pipeline,
) -> None:
    session_id = conversation(pipeline)
    decide(pipeline, TakeOver(target_session_id=session_id, reason="assumindo"))
    decide(pipeline, Release(target_session_id=session_id, reason="devolvendo"))

    stale = decide(
        pipeline,
        TakeOver(target_session_id=session_id, reason="eu vi antes", expected_control_version=1),
        by="bruno",
    )
    stale_close = decide(
        pipeline,
        Close(
            target_session_id=session_id, reason="x", outcome=SessionOutcome.OTHER,
            expected_control_version=0,
        ),
    )  # fmt: skip
    missing = decide(pipeline, TakeOver(target_session_id="no-such-session", reason="?"))
    current = decide(
        pipeline,
        TakeOver(target_session_id=session_id, reason="agora sim", expected_control_version=2),
        by="bruno",
    )

    assert stale.status == "REJECTED"
    assert stale.result == "control changed since you looked (expected v1, at v2)"
    assert stale_close.status == "REJECTED"
    assert stale_close.result == "control changed since you looked (expected v0, at v2)"
    assert (missing.status, missing.result) == ("REJECTED", "no session 'no-such-session'")
    assert current.status == "APPLIED"
    session = pipeline.session(session_id)
    assert (session.mode, session.assignee, session.control_version) == (
        SessionMode.HUMAN_TAKEOVER, "bruno", 3,
    )  # fmt: skip
    assert pipeline.count(session_id, "ControlChanged") == 3
    assert pipeline.count(session_id, "SessionClosed") == 0


def redeliver(pipeline: Pipeline, probe: Probe, command_id: str, times: int = 2) -> None:
    """Publish the command's `CommandRequested` on the `commands` topic again, as an
    at-least-once bus may, and wait until the command worker has handled it: a decided
    command's redelivery publishes its stream again, request included."""
    requested = pipeline.store.read(command_stream(command_id))[0]
    for _ in range(times):
        pipeline.bus.publish(COMMANDS_TOPIC, [requested])
    eventually(lambda: probe.seen(requested.event_id), what=f"redelivery of {command_id}")


def test_a_redelivered_command_changes_nothing(pipeline: Pipeline, graph: FakeGraph) -> None:
    session_id = conversation(pipeline)
    probe = Probe(pipeline.bus)
    takeover = pipeline.command(TakeOver(target_session_id=session_id, reason="assumindo"))
    pipeline.decided(takeover)
    send = pipeline.command(SendMessage(target_session_id=session_id, text="Olá, sou a Ana."))
    pipeline.decided(send)
    pipeline.wait_for(session_id, "OutboundSent", count=2)
    streams = [f"session-{session_id}", command_stream(takeover), command_stream(send)]
    before = {stream: pipeline.store.read(stream) for stream in streams}
    sent = len(graph.requests)

    redeliver(pipeline, probe, takeover)
    redeliver(pipeline, probe, send)

    stays(lambda: len(graph.requests) == sent, what="the operator's message is not sent again")
    assert {stream: pipeline.store.read(stream) for stream in streams} == before
    assert pipeline.decided(send).status == "APPLIED"


def test_a_redelivered_forget_does_not_erase_a_number_the_contact_gave_again(
    pipeline: Pipeline,
) -> None:
    session_id = conversation(pipeline)
    probe = Probe(pipeline.bus)
    from_hash = pipeline.vault.contact_hash(PHONE)
    forget = pipeline.command(
        ForgetContact(target_session_id=session_id, reason="pedido do titular"),
        by="root",
        role=Role.ADMIN,
    )
    assert pipeline.decided(forget).status == "APPLIED"
    assert number_in(pipeline.vault, from_hash) is None
    pipeline.say("oi, sou eu de novo", timestamp=_now(pipeline))  # the vault remembers again
    pipeline.wait_for(session_id, "MessageReceived", count=2)
    assert number_in(pipeline.vault, from_hash) == PHONE
    contact_before = pipeline.store.read(contact_stream(from_hash))

    redeliver(pipeline, probe, forget)

    assert pipeline.store.read(contact_stream(from_hash)) == contact_before
    assert number_in(pipeline.vault, from_hash) == PHONE
