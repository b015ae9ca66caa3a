"""Floods on each back end: a contact writing too much, too fast, gets one cooldown,
one warning, and silence until the cooldown is over; a repeat doubles it.

The flood policy's thresholds are low (a light flood at a score of 4 in 60 s) so that
a flood is a handful of messages; the messages carry WhatsApp timestamps, which is
what the score reads, and the workers' clock is moved forward to end a cooldown
without waiting for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from adapters.llm.rules import RulesResponder
from adapters.whatsapp.graph import GraphChannel
from contracts.commands import Close
from contracts.envelope import Actor, EventEnvelope
from contracts.ports.responder import Conversation, Draft, Responder
from contracts.topics import INBOUND_TOPIC
from contracts.vocabulary import FloodLevel, SessionOutcome
from domain.flood import FloodPolicy
from domain.policy import ConversationPolicy
from ingress import samples
from tests.backends import Backend
from tests.fake_graph import FakeGraph, fake_graph
from tests.pipeline import PHONE, Pipeline, eventually, pipeline_on, running

FLOOD = FloodPolicy(
    window_seconds=60, light_score=4, medium_score=8, heavy_score=16,
    light_minutes=1, medium_minutes=2, heavy_minutes=3, max_minutes=3,
)  # fmt: skip
POLICY = ConversationPolicy(reply_debounce=timedelta(0), flood=FLOOD)
MASSIVE = {"sqlite": 200, "gcp": 100}
"""Messages in a massive flood. Every message of a contact re-reads the whole session
stream, so on the Firestore emulator a flood is logged at a few messages a second:
fewer there, to keep the module within its minute."""


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


def stays(condition: Callable[[], bool], seconds: float = 1.5, what: str = "") -> None:
    """`condition` holds now and for the next `seconds` (for what must not happen)."""
    deadline = time.monotonic() + seconds
    while True:
        assert condition(), f"no longer true: {what or condition}"
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)


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
    with pipeline_on(backend, responder, channel, POLICY) as opened:
        opened.clock = clock
        with running(opened):
            yield opened
    channel.close()


# --- helpers -----------------------------------------------------------------------------


def burst(pipeline: Pipeline, texts: list[str], at: int, spacing_s: int = 0) -> None:
    """One webhook body holding `texts` written from `at` on, `spacing_s` apart, as
    Meta batches them; published on the `inbound` topic."""
    deliver(pipeline, written(texts, at, spacing_s))


def written(texts: list[str], at: int, spacing_s: int = 0) -> list[samples.Json]:
    return [
        samples.message("text", phone=PHONE, text=text, timestamp=at + i * spacing_s)
        for i, text in enumerate(texts)
    ]


def deliver(pipeline: Pipeline, items: list[samples.Json]) -> None:
    body = samples.body(samples.change(messages=items, contacts=[samples.contact(PHONE)]))
    pipeline.bus.publish(INBOUND_TOPIC, pipeline.webhook_envelopes(body))


def distinct(n: int, prefix: str = "mensagem") -> list[str]:
    return [f"{prefix} {i}" for i in range(n)]


def of_type(pipeline: Pipeline, session_id: str, event_type: str) -> list[EventEnvelope]:
    return [e for e in pipeline.events(session_id) if e.type == event_type]


def warnings(pipeline: Pipeline, session_id: str) -> list[EventEnvelope]:
    claimed = of_type(pipeline, session_id, "OutboundClaimed")
    return [e for e in claimed if e.payload["kind"] == "FLOOD_WARNING"]


def sent_texts(graph: FakeGraph) -> list[str]:
    return [request.json["text"]["body"] for request in graph.requests]


def settled(pipeline: Pipeline, session_id: str, responder: CountingResponder) -> None:
    """Nothing is drafting any more: the responder's count and the session's stream
    stood still for a second. (A draft whose claim lost a race to a newer message is
    never recorded, so the count of drafts cannot be compared with the stream.)"""
    last: list[tuple[tuple[int, int], float]] = []

    def still() -> bool:
        now = (responder.calls, len(pipeline.events(session_id)))
        if not last or last[0][0] != now:
            last[:] = [(now, time.monotonic())]
        return time.monotonic() - last[0][1] >= 1.0

    eventually(still, what="the workers to settle")


def flooded(
    pipeline: Pipeline, clock: ShiftedClock, messages: int = 6
) -> tuple[str, EventEnvelope]:
    """A flood of `messages` distinct texts in a second; the session and its cooldown,
    once its warning is sent and every message is logged."""
    # "t" keeps the timestamp and the index from reading as one masked 11-digit number
    burst(pipeline, distinct(messages, f"flood t{clock.timestamp()}"), at=clock.timestamp())
    session_id = pipeline.session_id()
    (started,) = pipeline.wait_for(session_id, "CooldownStarted")
    pipeline.wait_for(session_id, "MessageReceived", count=messages)
    eventually(lambda: warnings_sent(pipeline, session_id) == 1, what="the warning to be sent")
    return session_id, started


def warnings_sent(pipeline: Pipeline, session_id: str) -> int:
    ids = {e.payload["outbound_id"] for e in warnings(pipeline, session_id)}
    return sum(
        e.payload["outbound_id"] in ids for e in of_type(pipeline, session_id, "OutboundSent")
    )


def next_session(pipeline: Pipeline, *earlier: str) -> str:
    """The contact's current session, once it is none of `earlier`."""

    def probe() -> str | None:
        current = pipeline.session_id()
        return None if current in earlier else current

    return eventually(probe, what="a new session")


# --- tests -------------------------------------------------------------------------------


def test_a_flood_starts_a_cooldown_with_its_level_and_duration_and_one_warning(
    pipeline: Pipeline, clock: ShiftedClock, graph: FakeGraph
) -> None:
    session_id, started = flooded(pipeline, clock)

    (detected,) = of_type(pipeline, session_id, "FloodDetected")
    assert detected.payload["level"] == "LIGHT"
    assert 4 <= detected.payload["score"] < 8
    assert detected.payload["messages_in_window"] == 4
    assert detected.payload["window_seconds"] == 60
    assert started.actor is Actor.SYSTEM
    assert started.payload["level"] == "LIGHT"
    assert started.payload["duration_minutes"] == 1
    assert started.payload["repeat"] == 0
    until = datetime.fromisoformat(started.payload["until"])
    assert until == started.occurred_at + timedelta(minutes=1)
    session = pipeline.session(session_id)
    assert session.in_cooldown(clock())
    assert session.cooldown is not None
    assert session.cooldown.level is FloodLevel.LIGHT
    (warning,) = warnings(pipeline, session_id)
    assert warning.actor is Actor.SYSTEM
    assert warning.payload["text"] == POLICY.warning(1)
    assert warning.version > started.version
    (request,) = [r for r in graph.requests if r.json["text"]["body"] == POLICY.warning(1)]
    assert request.json["to"] == PHONE.removeprefix("+")


def test_messages_during_a_cooldown_are_logged_and_not_answered(
    pipeline: Pipeline, clock: ShiftedClock, graph: FakeGraph, responder: CountingResponder
) -> None:
    session_id, started = flooded(pipeline, clock)
    settled(pipeline, session_id, responder)
    calls, sent = responder.calls, len(graph.requests)

    burst(pipeline, distinct(5, "durante"), at=clock.timestamp() + 1, spacing_s=5)

    pipeline.wait_for(session_id, "MessageReceived", count=11)
    stays(lambda: responder.calls == calls, what="the responder is not called")
    assert len(graph.requests) == sent
    assert len(warnings(pipeline, session_id)) == 1
    assert pipeline.count(session_id, "CooldownStarted") == 1
    logged = [e.payload["body_sanitized"] for e in of_type(pipeline, session_id, "MessageReceived")]
    assert set(distinct(5, "durante")) <= set(logged)
    after = [e for e in pipeline.events(session_id) if e.version > started.version]
    assert {e.type for e in after} <= {
        "MessageReceived",
        "FloodDetected",
        "CooldownEscalated",
        "OutboundClaimed",
        "OutboundSendStarted",
        "OutboundSent",
        "OutboundSuppressed",
        "ReplyDrafted",
    }
    assert all(e.payload["kind"] == "FLOOD_WARNING" for e in after if e.type == "OutboundClaimed")


def test_a_massive_flood_still_gets_exactly_one_warning_and_no_other_reply(
    pipeline: Pipeline, clock: ShiftedClock, graph: FakeGraph
) -> None:
    size = MASSIVE[pipeline.backend.kind]
    burst(pipeline, distinct(size, "spam"), at=clock.timestamp())
    session_id = pipeline.session_id()

    deadline = time.monotonic() + 45
    while pipeline.count(session_id, "MessageReceived") < size:  # polled gently: a read of
        assert time.monotonic() < deadline, "the flood was not logged"  # the whole stream
        time.sleep(0.5)  # competes with the workers on the emulator

    (started,) = of_type(pipeline, session_id, "CooldownStarted")
    (warning,) = warnings(pipeline, session_id)
    eventually(
        lambda: sent_texts(graph).count(warning.payload["text"]) == 1, what="the one warning"
    )
    after = [e for e in pipeline.events(session_id) if e.version > started.version]
    started_sends = {e.payload["outbound_id"] for e in after if e.type == "OutboundSendStarted"}
    assert started_sends <= {warning.payload["outbound_id"]}  # nothing else left after it
    stays(lambda: sent_texts(graph).count(warning.payload["text"]) == 1, seconds=0.5)
    # the flood went on through its cooldown: the same cooldown grew to the heavy level
    escalated = [e for e in after if e.type == "CooldownEscalated"]
    assert [e.payload["level"] for e in escalated] == ["MEDIUM", "HEAVY"]
    assert {e.payload["cooldown_id"] for e in escalated} == {started.payload["cooldown_id"]}
    assert escalated[-1].payload["duration_minutes"] == FLOOD.heavy_minutes
    assert datetime.fromisoformat(escalated[-1].payload["until"]) == started.occurred_at + (
        timedelta(minutes=FLOOD.heavy_minutes)
    )
    session = pipeline.session(session_id)
    assert session.cooldown is not None
    assert session.cooldown.level is FloodLevel.HEAVY
    assert pipeline.count(session_id, "FloodDetected") == 3


def test_messages_spread_beyond_the_window_are_no_flood_but_repeated_texts_weigh_more(
    pipeline: Pipeline, clock: ShiftedClock, responder: CountingResponder
) -> None:
    now = clock.timestamp()
    burst(pipeline, distinct(6, "devagar"), at=now - 125, spacing_s=25)  # 3 per 60 s at most
    session_id = pipeline.session_id()
    pipeline.wait_for(session_id, "MessageReceived", count=6)
    settled(pipeline, session_id, responder)
    assert pipeline.count(session_id, "FloodDetected") == 0

    clock.advance(timedelta(minutes=2))
    burst(pipeline, ["oi", "oi", "oi"], at=clock.timestamp())  # 1 + 1.5 + 1.5: a light flood

    (detected,) = pipeline.wait_for(session_id, "FloodDetected")
    assert detected.payload["score"] == 4
    assert detected.payload["messages_in_window"] == 3


def test_after_the_cooldown_the_session_answers_again(
    pipeline: Pipeline, clock: ShiftedClock, graph: FakeGraph, responder: CountingResponder
) -> None:
    session_id, started = flooded(pipeline, clock)
    settled(pipeline, session_id, responder)
    calls = responder.calls

    clock.advance(timedelta(minutes=1, seconds=1))
    pipeline.say("posso falar agora?", timestamp=clock.timestamp())

    (ended,) = pipeline.wait_for(session_id, "CooldownEnded")
    assert ended.payload["cooldown_id"] == started.payload["cooldown_id"]
    assert not pipeline.session(session_id).in_cooldown(clock())
    reply = eventually(
        lambda: [e for e in of_type(pipeline, session_id, "OutboundClaimed")
                 if e.version > ended.version],
        what="a reply after the cooldown",
    )[0]  # fmt: skip
    assert reply.actor is Actor.LLM
    assert reply.payload["kind"] == "REPLY"
    eventually(lambda: sent_texts(graph)[-1] == reply.payload["text"], what="the reply sent")
    assert responder.calls == calls + 1
    assert len(warnings(pipeline, session_id)) == 1


def test_a_repeat_within_24_hours_doubles_the_cooldown_up_to_the_cap(
    pipeline: Pipeline, clock: ShiftedClock, graph: FakeGraph
) -> None:
    session_id, first = flooded(pipeline, clock)

    clock.advance(timedelta(minutes=2))
    _, second = flood_again(pipeline, clock, session_id, count=2)
    clock.advance(timedelta(minutes=3))
    _, third = flood_again(pipeline, clock, session_id, count=3)

    cooldowns = [
        (e.payload["repeat"], e.payload["duration_minutes"]) for e in (first, second, third)
    ]
    assert cooldowns == [(0, 1), (1, 2), (2, 3)]  # 1, doubled, then 4 capped at 3
    assert datetime.fromisoformat(second.payload["until"]) == second.occurred_at + timedelta(
        minutes=2
    )
    assert pipeline.count(session_id, "CooldownEnded") == 2
    texts = [e.payload["text"] for e in warnings(pipeline, session_id)]
    assert texts == [POLICY.warning(1), POLICY.warning(2), POLICY.warning(3)]
    eventually(lambda: sum(t in texts for t in sent_texts(graph)) == 3, what="three warnings")


def flood_again(
    pipeline: Pipeline, clock: ShiftedClock, session_id: str, count: int
) -> tuple[str, EventEnvelope]:
    burst(pipeline, distinct(6, f"de novo {count}"), at=clock.timestamp())
    started = pipeline.wait_for(session_id, "CooldownStarted", count=count)[-1]
    eventually(lambda: len(warnings(pipeline, session_id)) == count, what="its warning")
    pipeline.wait_for(session_id, "MessageReceived", count=6 * count)
    return session_id, started


def test_a_flood_message_delivered_late_does_not_start_a_second_cooldown(
    pipeline: Pipeline, clock: ShiftedClock, graph: FakeGraph
) -> None:
    items = written(distinct(6, "atrasada"), at=clock.timestamp())
    late = items.pop()
    deliver(pipeline, items)
    session_id = pipeline.session_id()
    pipeline.wait_for(session_id, "CooldownStarted")
    pipeline.wait_for(session_id, "MessageReceived", count=5)
    eventually(lambda: warnings_sent(pipeline, session_id) == 1, what="the warning")

    clock.advance(timedelta(minutes=2))  # the cooldown is over when the last one arrives
    deliver(pipeline, [late])

    pipeline.wait_for(session_id, "MessageReceived", count=6)
    assert pipeline.count(session_id, "CooldownStarted") == 1
    assert len(warnings(pipeline, session_id)) == 1


def test_a_repeat_in_a_new_session_still_doubles_but_not_after_24_hours(
    pipeline: Pipeline, clock: ShiftedClock
) -> None:
    session_id, first = flooded(pipeline, clock)
    command_id = pipeline.command(
        Close(target_session_id=session_id, reason="spam", outcome=SessionOutcome.SPAM)
    )
    assert pipeline.decided(command_id).status == "APPLIED"

    clock.advance(timedelta(minutes=2))
    burst(pipeline, distinct(6, "outra sessão"), at=clock.timestamp())
    second_session = next_session(pipeline, session_id)
    (second,) = pipeline.wait_for(second_session, "CooldownStarted")
    pipeline.wait_for(second_session, "MessageReceived", count=6)

    clock.advance(timedelta(hours=25))
    burst(pipeline, distinct(6, "um dia depois"), at=clock.timestamp())
    third_session = next_session(pipeline, session_id, second_session)
    (third,) = pipeline.wait_for(third_session, "CooldownStarted")

    assert (first.payload["repeat"], first.payload["duration_minutes"]) == (0, 1)
    assert (second.payload["repeat"], second.payload["duration_minutes"]) == (1, 2)
    assert (third.payload["repeat"], third.payload["duration_minutes"]) == (0, 1)
    assert pipeline.count(second_session, "SessionExpired") == 1
