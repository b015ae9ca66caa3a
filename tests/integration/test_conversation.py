"""The conversation engine end to end on each back end: a customer's messages through
the bus to the workers, the responder a real HTTP server speaking the OpenAI API, the
channel a real HTTP server speaking the Graph API."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from adapters.llm.openai import OpenAIResponder
from adapters.whatsapp.graph import GraphChannel
from contracts.commands import TakeOver
from contracts.topics import INBOUND_TOPIC
from domain.policy import ConversationPolicy
from tests.backends import Backend
from tests.fake_graph import FakeGraph, fake_graph
from tests.fake_llm import FakeLLM, fake_llm, raw
from tests.pipeline import FAST, PHONE, Pipeline, eventually, pipeline_on, running


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with fake_llm() as server:
        yield server


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with fake_graph() as server:
        yield server


@pytest.fixture
def policy() -> ConversationPolicy:
    return FAST


@pytest.fixture
def pipeline(
    backend: Backend, llm: FakeLLM, graph: FakeGraph, policy: ConversationPolicy
) -> Iterator[Pipeline]:
    llm.reset()
    responder = OpenAIResponder(llm.base_url, "sk-test", "gpt-test", timeout_s=2, max_attempts=2)
    channel = GraphChannel("graph-token", api_base=graph.base_url, backoff_s=(0.01, 0.05))
    with pipeline_on(backend, responder, channel, policy) as opened, running(opened):
        yield opened


def test_a_message_gets_one_reply_sent_through_the_graph_api(
    pipeline: Pipeline, graph: FakeGraph
) -> None:
    pipeline.say("Olá, quero um orçamento")
    session_id = pipeline.session_id()

    pipeline.wait_for(session_id, "OutboundSent")

    assert pipeline.types(session_id) == [
        "SessionStarted", "MessageReceived", "ReplyDrafted", "OutboundClaimed",
        "OutboundSendStarted", "OutboundSent",
    ]  # fmt: skip
    claimed = pipeline.events(session_id)[3]
    assert claimed.actor.value == "LLM"
    assert claimed.payload["text"] == "Recebi: Olá, quero um orçamento"
    (request,) = graph.requests
    assert request.json["to"] == PHONE.removeprefix("+")
    assert request.json["text"]["body"] == claimed.payload["text"]


def test_the_same_message_five_times_out_of_order_is_logged_once_and_answered_once(
    pipeline: Pipeline,
) -> None:
    now = int(time.time())
    first = pipeline.text("primeira", timestamp=now - 1)
    second = pipeline.text("segunda", timestamp=now)
    deliveries = first * 5 + second * 5
    random.Random(7).shuffle(deliveries)

    for envelope in deliveries:
        pipeline.bus.publish(INBOUND_TOPIC, [envelope])
    session_id = pipeline.session_id()
    eventually(
        lambda: (
            pipeline.count(session_id, "MessageReceived") == 2
            and not pipeline.session(session_id).pending
        )
    )
    claimed = pipeline.wait_all_sent(session_id)

    assert pipeline.count(session_id, "MessageReceived") == 2
    assert claimed in (1, 2)  # one reply per burst: both may land in one, or one each


@pytest.mark.parametrize(
    "policy", [ConversationPolicy(reply_debounce=timedelta(milliseconds=800))], indirect=False
)
def test_a_burst_of_five_gets_one_reply(pipeline: Pipeline) -> None:
    for text in ["oi", "tudo bem?", "vocês fazem apps?", "quanto custa?", "obrigado"]:
        pipeline.say(text)
    session_id = pipeline.session_id()

    pipeline.wait_for(session_id, "OutboundSent")

    assert pipeline.count(session_id, "MessageReceived") == 5
    assert pipeline.count(session_id, "OutboundClaimed") == 1
    (drafted,) = [e for e in pipeline.events(session_id) if e.type == "ReplyDrafted"]
    assert len(drafted.payload["in_reply_to"]) == 5


def test_after_a_takeover_the_bot_stays_silent(pipeline: Pipeline, llm: FakeLLM) -> None:
    pipeline.say("oi")
    session_id = pipeline.session_id()
    pipeline.wait_for(session_id, "OutboundSent")
    command_id = pipeline.command(TakeOver(target_session_id=session_id, reason="VIP"))
    assert pipeline.decided(command_id).status == "APPLIED"
    calls = len(llm.requests)

    pipeline.say("alguém aí?")
    pipeline.wait_for(session_id, "MessageReceived", count=2)

    assert pipeline.session(session_id).mode == "HUMAN_TAKEOVER"
    assert pipeline.count(session_id, "OutboundClaimed") == 1
    assert len(llm.requests) == calls  # not even asked


def test_an_llm_answering_garbage_is_shown_and_dead_lettered(
    pipeline: Pipeline, llm: FakeLLM
) -> None:
    llm.script(*[raw("not json at all")] * 20)
    pipeline.say("oi")
    session_id = pipeline.session_id()

    failed = pipeline.wait_for(session_id, "ReplyDraftFailed")
    dead = eventually(
        lambda: pipeline.bus.dead_letters("conversation-worker"), timeout=60, what="a dead letter"
    )

    assert failed[0].payload["attempts"] == 2
    assert len(dead) == 1
    assert pipeline.count(session_id, "ReplyDraftFailed") == 1
    assert pipeline.count(session_id, "OutboundClaimed") == 0
    llm.reset()
