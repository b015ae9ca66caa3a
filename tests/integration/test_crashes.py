"""Invariant 3, and the delivery semantics behind invariant 2, under crashes, on each
back end: every worker dies between every pair of its steps, and the bus delivers its
input again.

Crashes are injected through the ports: the workers get the real `EventStore`, `Bus`
and `Channel` wrapped in proxies that raise `Crash` at the k-th `transact`, `publish` or
`send_text` made while processing one input, either before delegating (the step did not
happen) or after (it happened, and the worker died before the next one). The consumer
nacks, the bus delivers the input again after a short backoff, and the outcome is
judged from the event store and from what the fake Graph API received.

The crash points of one worker run together, each on a conversation of its own, once
per back end (`Batches`); each test then judges one point. A control input of each
batch does not crash: its calls are the worker's steps, which the crash points must
cover (`test_the_crash_points_are_every_step_of_the_worker`).
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from typing import Any, Literal, TypeVar

import pytest

from adapters.llm.openai import OpenAIResponder
from adapters.whatsapp.graph import GraphChannel
from contracts.commands import OperatorCommand, SendMessage, TakeOver
from contracts.envelope import EventEnvelope
from contracts.ports.bus import Bus, Consumer, Handler
from contracts.ports.channel import Channel, Recipient, SendOutcome
from contracts.ports.eventstore import Committed, EventStore, StreamTransaction
from contracts.topics import (
    COMMANDS_SUBSCRIPTION,
    CONVERSATION_SUBSCRIPTION,
    EVENTS_TOPIC,
    INBOUND_TOPIC,
    SENDER_SUBSCRIPTION,
    SUBSCRIPTIONS,
)
from domain.ids import session_id_for
from domain.policy import ConversationPolicy
from ingress.samples import meta_digits
from tests.backends import Backend
from tests.fake_graph import FakeGraph, ReceivedRequest, fake_graph
from tests.fake_llm import FakeLLM, fake_llm
from tests.pipeline import Pipeline, TimedOut, eventually, pipeline_on, running

T = TypeVar("T")

POLICY = ConversationPolicy(reply_debounce=timedelta(0), send_lease=timedelta(seconds=1))
"""A send found started and unsettled is UNKNOWN one second later, not ninety."""
SETTLE_TIMEOUT_S = 90.0
COMMANDS_AT_ONCE = 4
"""As many commands as the command worker takes at a time (see `_submit_in_waves`)."""


class Crash(Exception):
    """The worker dies here: its consumer nacks the input and the bus delivers it again."""


# --- crash points --------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """Crash at the `k`-th call of `method` made for one input, `when` relative to it:
    before delegating (the step did not happen) or after (it did)."""

    method: str
    k: int
    when: Literal["before", "after"]

    def __str__(self) -> str:
        return f"{self.method}#{self.k}-{self.when}"


def crash_points(steps: Sequence[str]) -> list[Point]:
    """Before and after each step: every gap between two steps, and both ends."""
    seen: Counter[str] = Counter()
    points = []
    for method in steps:
        seen[method] += 1
        points += [Point(method, seen[method], "before"), Point(method, seen[method], "after")]
    return points


CONVERSATION_STEPS = ("transact", "publish", "publish", "transact", "publish")
"""A customer's message: record it, publish what was appended, publish what an earlier
delivery recorded (nothing, the first time), claim or suppress the reply, publish."""
SENDER_STEPS = ("transact", "publish", "send_text", "transact", "publish")
"""A claimed outbound: start the send, publish, call the channel, settle, publish."""
COMMAND_STEPS = ("transact", "publish", "publish")
"""A command: decide it with its effects, publish what was appended, publish what an
earlier delivery recorded (nothing, the first time)."""
STEPS = {"conversation": CONVERSATION_STEPS, "sender": SENDER_STEPS, "commands": COMMAND_STEPS}


def _done_through(steps: Sequence[str], point: Point) -> int:
    """The index of the last step that happened before the worker died (-1: none)."""
    at = [i for i, method in enumerate(steps) if method == point.method][point.k - 1]
    return at if point.when == "after" else at - 1


# --- the proxies ---------------------------------------------------------------------

Key = tuple[str, str]
"""(subscription, correlation id): one input as one worker processes it."""


@dataclass(frozen=True)
class Delivery:
    """One delivery of an input to a worker, and the port calls it made."""

    key: Key
    calls: list[str]


_handling: ContextVar[Delivery | None] = ContextVar("handling", default=None)
"""The delivery the current thread's handler is processing, set by `CrashingBus`."""


class Injector:
    """Which input crashes where; the calls each input's processing made, per delivery;
    which crashes fired."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[Key, Point] = {}
        self._calls: Counter[tuple[Key, str]] = Counter()
        self.traces: dict[Key, list[list[str]]] = defaultdict(list)
        self.fired: set[Key] = set()

    def arm(self, key: Key, point: Point) -> None:
        with self._lock:
            self._armed[key] = point

    def delivering(self, key: Key) -> Delivery:
        delivery = Delivery(key, [])
        with self._lock:
            self.traces[key].append(delivery.calls)
        return delivery

    def reached(self, method: str) -> bool:
        """A call of `method` for the input handled in this thread, about to be made.
        Raises `Crash` if the input is armed to crash before it; True if it is armed
        to crash right after it."""
        delivery = _handling.get()
        if delivery is None:
            return False  # the test itself, not a worker
        key = delivery.key
        with self._lock:
            delivery.calls.append(method)
            self._calls[key, method] += 1
            point = self._armed.get(key)
            if point is None or (point.method, point.k) != (method, self._calls[key, method]):
                return False
            del self._armed[key]
            self.fired.add(key)
        if point.when == "before":
            raise Crash(f"crash before {point}")
        return True


class CrashingStore:
    """The real `EventStore`; `transact` may crash. Everything else is the real one's."""

    def __init__(self, store: EventStore, injector: Injector) -> None:
        self._store = store
        self._injector = injector

    def transact(self, fn: Callable[[StreamTransaction], T], attempts: int = 5) -> Committed[T]:
        crash_after = self._injector.reached("transact")
        committed = self._store.transact(fn, attempts)
        if crash_after:
            raise Crash("crash after transact")
        return committed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


class CrashingChannel:
    """The real `Channel`; `send_text` may crash."""

    def __init__(self, channel: Channel, injector: Injector) -> None:
        self._channel = channel
        self._injector = injector

    def send_text(self, business_number_id: str, to: Recipient, text: str) -> SendOutcome:
        crash_after = self._injector.reached("send_text")
        outcome = self._channel.send_text(business_number_id, to, text)
        if crash_after:
            raise Crash("crash after send_text")
        return outcome


class CrashingBus:
    """The real `Bus`; `publish` may crash. It also watches: it tells the proxies which
    input each handler processes, records what was published and which inputs each
    worker handled to the end, so that the test knows when everything has settled."""

    def __init__(self, bus: Bus, injector: Injector) -> None:
        self._bus = bus
        self._injector = injector
        self._lock = threading.Lock()
        self._published: dict[str, dict[str, str]] = defaultdict(dict)
        """topic → event id → type."""
        self._handled: dict[str, set[str]] = defaultdict(set)
        """subscription → event ids its handler returned for."""
        self._crashed: dict[Key, str] = {}
        """input → the event id of the envelope whose handler crashed."""
        self._consumed: dict[str, str] = {}
        self._running = 0

    def declare(self, topic: str, subscription: str | None = None) -> None:
        self._bus.declare(topic, subscription)

    def publish(self, topic: str, envelopes: Sequence[EventEnvelope]) -> None:
        crash_after = self._injector.reached("publish")
        self._bus.publish(topic, envelopes)
        with self._lock:
            self._published[topic].update((e.event_id, e.type) for e in envelopes)
        if crash_after:
            raise Crash("crash after publish")

    def subscribe(self, subscription: str, handler: Handler, max_in_flight: int = 8) -> Consumer:
        with self._lock:
            self._consumed[subscription] = SUBSCRIPTIONS[subscription]
        watched = partial(self._handle, subscription, handler)
        return self._bus.subscribe(subscription, watched, max_in_flight)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bus, name)

    def _handle(self, subscription: str, handler: Handler, envelope: EventEnvelope) -> None:
        key = (subscription, envelope.correlation_id)
        token = _handling.set(self._injector.delivering(key))
        with self._lock:
            self._running += 1
        try:
            handler(envelope)
        except Crash:
            with self._lock:
                self._crashed[key] = envelope.event_id
            raise
        else:
            with self._lock:
                self._handled[subscription].add(envelope.event_id)
        finally:
            _handling.reset(token)
            with self._lock:
                self._running -= 1

    def published(self, topic: str) -> set[str]:
        with self._lock:
            return set(self._published[topic])

    def recovered(self, key: Key) -> bool:
        """The input crashed, and the envelope that crashed was handled again to the end."""
        with self._lock:
            crashed = self._crashed.get(key)
            return crashed is not None and crashed in self._handled[key[0]]

    def _unhandled(self) -> dict[str, list[str]]:
        return {
            subscription: [
                kind
                for event_id, kind in self._published[topic].items()
                if event_id not in self._handled[subscription]
            ]
            for subscription, topic in self._consumed.items()
        }

    def settled(self) -> bool:
        """No handler runs, and everything published to a worker's topic was handled
        by that worker: nothing is in flight nor waiting to be delivered again."""
        with self._lock:
            return self._running == 0 and not any(self._unhandled().values())

    def wait_settled(self, timeout: float = SETTLE_TIMEOUT_S) -> None:
        def twice() -> bool:
            if not self.settled():
                return False
            time.sleep(0.2)
            return self.settled()

        try:
            eventually(twice, timeout, "every worker to finish what was published")
        except TimedOut:
            with self._lock:
                running, unhandled = self._running, self._unhandled()
            waiting = {s: dict(Counter(kinds)) for s, kinds in unhandled.items() if kinds}
            raise TimedOut(
                f"not settled after {timeout} s: {running} handler(s) running; published "
                f"and not handled: {waiting}"
            ) from None


# --- one batch of crash points on one back end ----------------------------------------

_numbers = itertools.count(1)


def _new_phone() -> str:
    return f"+55319{next(_numbers):08d}"


@dataclass(frozen=True)
class Case:
    label: str
    """What the input is, when a worker gets several kinds (the command's type)."""
    point: Point | None
    """None: the control, which does not crash."""
    key: Key
    phone: str
    session_id: str
    text: str = ""
    """The operator's message, for SEND_MESSAGE."""


@dataclass(frozen=True)
class Outcome:
    """What one case left behind once everything settled."""

    case: Case
    events: list[EventEnvelope]
    """The case's session stream."""
    caused: list[EventEnvelope]
    """Every event recorded with the case's correlation id, in any stream."""
    published: set[str]
    """Event ids published on `events` (by anyone, during the whole batch)."""
    requests: list[ReceivedRequest]
    """What the Graph API was asked to send to the case's phone."""
    fired: bool
    recovered: bool
    trace: list[str]
    """The port calls of the first delivery of the input that made any."""

    def count(self, event_type: str) -> int:
        return sum(1 for e in self.events if e.type == event_type)

    def __str__(self) -> str:
        lines = [f"{self.case.label} {self.case.point or 'control'}: session stream"]
        for e in self.events:
            shown = {k: v for k, v in e.payload.items() if k in ("kind", "reason", "mode")}
            lines.append(f"  v{e.version} {e.type} {shown}")
        lines.append(f"  graph requests to the phone: {len(self.requests)}")
        return "\n".join(lines)

    def check_crashed_and_recovered(self) -> None:
        assert self.fired, f"the crash at {self.case.point} never fired:\n{self}"
        assert self.recovered, f"the input was not handled again after the crash:\n{self}"


Outcomes = dict[tuple[str, Point | None], Outcome]
"""(label, point) → outcome, for one batch."""


class Rig:
    """A running pipeline whose workers use the crashing ports."""

    def __init__(
        self, pipeline: Pipeline, bus: CrashingBus, injector: Injector, graph: FakeGraph
    ) -> None:
        self.pipeline = pipeline
        self.bus = bus
        self.injector = injector
        self.graph = graph

    def outcomes(self, cases: Sequence[Case]) -> Outcomes:
        """Once everything settled, what each case left behind."""
        self.bus.wait_settled()
        caused: dict[str, list[EventEnvelope]] = defaultdict(list)
        cursor: str | None = None
        while True:
            page = self.pipeline.store.read_all(cursor)
            for event in page.events:
                caused[event.correlation_id].append(event)
            if page.cursor is None:
                break
            cursor = page.cursor
        published = self.bus.published(EVENTS_TOPIC)
        requests = self.graph.requests
        return {
            (case.label, case.point): Outcome(
                case=case,
                events=self.pipeline.events(case.session_id),
                caused=caused[case.key[1]],
                published=published,
                requests=[r for r in requests if r.json["to"] == meta_digits(case.phone)],
                fired=case.key in self.injector.fired,
                recovered=self.bus.recovered(case.key),
                trace=next((t for t in self.injector.traces[case.key] if t), []),
            )
            for case in cases
        }


@contextmanager
def _rig(backend: Backend, llm: FakeLLM, graph: FakeGraph) -> Iterator[Rig]:
    responder = OpenAIResponder(llm.base_url, "sk-test", "gpt-test", timeout_s=10, max_attempts=2)
    channel = GraphChannel("graph-token", api_base=graph.base_url, backoff_s=(0.01, 0.05))
    injector = Injector()
    with pipeline_on(backend, responder, channel, POLICY) as opened:
        bus = CrashingBus(opened.bus, injector)
        pipeline = replace(
            opened,
            store=CrashingStore(opened.store, injector),
            bus=bus,
            channel=CrashingChannel(opened.channel, injector),
        )
        with running(pipeline):
            yield Rig(pipeline, bus, injector, graph)
    responder.close()


def _message_batch(rig: Rig, subscription: str, steps: Sequence[str]) -> Outcomes:
    """One customer message per crash point, the crash armed in `subscription`'s worker."""
    cases = []
    for point in [None, *crash_points(steps)]:
        phone = _new_phone()
        (envelope,) = rig.pipeline.text(f"quero saber o preço ({point or 'control'})", phone=phone)
        key = (subscription, envelope.correlation_id)  # the sender's input carries it too
        if point is not None:
            rig.injector.arm(key, point)
        cases.append(Case("", point, key, phone, session_id_for(envelope.event_id)))
        rig.pipeline.bus.publish(INBOUND_TOPIC, [envelope])
    return rig.outcomes(cases)


def _submit_in_waves(rig: Rig, commands: Sequence[tuple[OperatorCommand, Point | None]]) -> None:
    """Submit `COMMANDS_AT_ONCE` at a time, each wave once the last one settled, so
    that no command waits in the consumer's flow control: on the Pub/Sub emulator,
    messages waiting there when the consumer's streaming pull reopens (every 20 s) may
    not be delivered for minutes."""
    for start in range(0, len(commands), COMMANDS_AT_ONCE):
        for command, point in commands[start : start + COMMANDS_AT_ONCE]:
            assert command.command_id is not None
            if point is not None:
                rig.injector.arm((COMMANDS_SUBSCRIPTION, command.command_id), point)
            rig.pipeline.command(command, by="ana")
        rig.bus.wait_settled()


COMMAND_KINDS = ("TAKEOVER", "SEND_MESSAGE")


def _command_batch(rig: Rig) -> Outcomes:
    """One conversation per (command, crash point), answered by the bot first; a
    SEND_MESSAGE is sent by the operator who took the conversation over."""
    plan = [
        (kind, point) for kind in COMMAND_KINDS for point in [None, *crash_points(COMMAND_STEPS)]
    ]
    phones = [_new_phone() for _ in plan]
    sessions = []
    for phone in phones:
        (envelope,) = rig.pipeline.say("oi", phone=phone)
        sessions.append(session_id_for(envelope.event_id))
    rig.bus.wait_settled()
    takeovers = [
        (TakeOver(command_id=uuid.uuid4().hex, target_session_id=session, reason="setup"), None)
        for (kind, _), session in zip(plan, sessions, strict=True)
        if kind == "SEND_MESSAGE"
    ]
    _submit_in_waves(rig, takeovers)
    cases, commands = [], []
    for (kind, point), phone, session in zip(plan, phones, sessions, strict=True):
        command_id = uuid.uuid4().hex
        text = f"Aqui é a Ana ({command_id[:8]})"
        command: OperatorCommand = (
            TakeOver(command_id=command_id, target_session_id=session, reason="crash")
            if kind == "TAKEOVER"
            else SendMessage(command_id=command_id, target_session_id=session, text=text)
        )
        commands.append((command, point))
        cases.append(Case(kind, point, (COMMANDS_SUBSCRIPTION, command_id), phone, session, text))
    _submit_in_waves(rig, commands)
    return rig.outcomes(cases)


class Batches:
    """Each worker's batch of crash points, run once per back end on first use."""

    def __init__(self, llm: FakeLLM, graph: FakeGraph) -> None:
        self._llm = llm
        self._graph = graph
        self._done: dict[tuple[str, str], Outcomes] = {}

    def outcome(
        self, backend: Backend, worker: str, point: Point | None, label: str = ""
    ) -> Outcome:
        if (backend.kind, worker) not in self._done:
            with _rig(backend, self._llm, self._graph) as rig:
                if worker == "conversation":
                    batch = _message_batch(rig, CONVERSATION_SUBSCRIPTION, CONVERSATION_STEPS)
                elif worker == "sender":
                    batch = _message_batch(rig, SENDER_SUBSCRIPTION, SENDER_STEPS)
                else:
                    batch = _command_batch(rig)
            self._done[backend.kind, worker] = batch
        return self._done[backend.kind, worker][label, point]


@pytest.fixture(scope="module")
def batches() -> Iterator[Batches]:
    with fake_llm() as llm, fake_graph() as graph:
        yield Batches(llm, graph)


# --- the tests -----------------------------------------------------------------------


@pytest.mark.parametrize("worker", list(STEPS))
def test_the_crash_points_are_every_step_of_the_worker(
    worker: str, backend: Backend, batches: Batches
) -> None:
    labels = COMMAND_KINDS if worker == "commands" else ("",)
    for label in labels:
        control = batches.outcome(backend, worker, None, label)
        assert control.trace == list(STEPS[worker]), f"the worker's steps changed:\n{control}"


@pytest.mark.parametrize("point", crash_points(CONVERSATION_STEPS), ids=str)
def test_a_message_is_recorded_and_answered_once_across_a_crash(
    point: Point, backend: Backend, batches: Batches
) -> None:
    outcome = batches.outcome(backend, "conversation", point)

    outcome.check_crashed_and_recovered()
    assert outcome.count("MessageReceived") == 1, str(outcome)
    assert outcome.count("ReplyDrafted") == 1, str(outcome)
    assert outcome.count("OutboundClaimed") == 1, str(outcome)
    assert outcome.count("OutboundSent") == 1, str(outcome)
    assert len(outcome.requests) == 1, str(outcome)


def _sender_expects(point: Point) -> tuple[str, int]:
    """How a claimed outbound ends when the sender died at `point`: sent once if the
    crash came before its send started or after it was settled; otherwise nobody knows
    whether WhatsApp got it: UNKNOWN, with the one request the dead delivery made, if
    it made one, and never a second."""
    done = _done_through(SENDER_STEPS, point)
    started, called, settled = done >= 0, done >= 2, done >= 3
    if not started or settled:
        return "OutboundSent", 1
    return "OutboundOutcomeUnknown", 1 if called else 0


@pytest.mark.parametrize("point", crash_points(SENDER_STEPS), ids=str)
def test_an_outbound_is_sent_at_most_once_across_a_crash(
    point: Point, backend: Backend, batches: Batches
) -> None:
    outcome = batches.outcome(backend, "sender", point)
    ending, requests = _sender_expects(point)

    outcome.check_crashed_and_recovered()
    endings = ("OutboundSent", "OutboundFailed", "OutboundOutcomeUnknown", "OutboundSuppressed")
    assert [e.type for e in outcome.events if e.type in endings] == [ending], str(outcome)
    assert outcome.count("OutboundSendStarted") == 1, str(outcome)
    assert len(outcome.requests) == requests, str(outcome)


COMMAND_CASES = [(kind, point) for kind in COMMAND_KINDS for point in crash_points(COMMAND_STEPS)]


@pytest.mark.parametrize(("kind", "point"), COMMAND_CASES, ids=lambda v: str(v))
def test_a_command_is_applied_once_across_a_crash(
    kind: str, point: Point, backend: Backend, batches: Batches
) -> None:
    outcome = batches.outcome(backend, "commands", point, kind)

    outcome.check_crashed_and_recovered()
    decided = [e.type for e in outcome.caused if e.type in ("CommandApplied", "CommandRejected")]
    assert decided == ["CommandApplied"], str(outcome)
    if kind == "TAKEOVER":
        takeovers = [e for e in outcome.events if e.type == "ControlChanged"]
        assert [e.payload["mode"] for e in takeovers] == ["HUMAN_TAKEOVER"], str(outcome)
        return
    text = outcome.case.text
    claims = [
        e for e in outcome.events if e.type == "OutboundClaimed" and e.payload["text"] == text
    ]
    assert len(claims) == 1, str(outcome)
    sent = [e for e in outcome.events if e.type == "OutboundSent"]
    assert claims[0].payload["outbound_id"] in {e.payload["outbound_id"] for e in sent}, (
        f"the operator's message was never sent:\n{outcome}"
    )
    assert [r.json["text"]["body"] for r in outcome.requests].count(text) == 1, str(outcome)


EVERY_POINT = [
    *(("conversation", "", p) for p in crash_points(CONVERSATION_STEPS)),
    *(("sender", "", p) for p in crash_points(SENDER_STEPS)),
    *(("commands", kind, p) for kind, p in COMMAND_CASES),
]


@pytest.mark.parametrize(("worker", "label", "point"), EVERY_POINT, ids=lambda v: str(v))
def test_a_redelivery_publishes_what_the_crashed_delivery_appended(
    worker: str, label: str, point: Point, backend: Backend, batches: Batches
) -> None:
    """Every event recorded for the input reaches the `events` topic, where the sender
    and the projectors read it: "redelivery re-publishes and appends nothing new"
    (ARCHITECTURE.md, delivery semantics)."""
    outcome = batches.outcome(backend, worker, point, label)

    outcome.check_crashed_and_recovered()
    appended = [e for e in outcome.caused if e.type != "CommandRequested"]  # the input itself
    unpublished = [f"{e.stream_id.split('-')[0]} v{e.version} {e.type}" for e in appended
                   if e.event_id not in outcome.published]  # fmt: skip
    assert not unpublished, f"appended and never published: {unpublished}\n{outcome}"
