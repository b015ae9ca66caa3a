"""WhatsApp's delivery reports on our messages, on each back end: a status webhook
moves the outbound forward (sent → delivered → read), never back; a report that
arrives before the send is recorded waits for it; a failure keeps WhatsApp's code; a
report on a message Switchboard never sent is recorded once as unmatched.

The outbound's WhatsApp id is the one the fake Graph API answered, scripted here, so
that the test can report on it as Meta would.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from adapters.llm.rules import RulesResponder
from adapters.whatsapp.graph import GraphChannel
from contracts.envelope import Actor, EventEnvelope
from contracts.streams import wamessage_stream
from contracts.topics import CONVERSATION_SUBSCRIPTION, INBOUND_TOPIC
from contracts.vocabulary import MessageStatus
from domain.policy import ConversationPolicy
from ingress import samples
from tests.backends import Backend
from tests.fake_graph import FakeGraph, fake_graph, success
from tests.pipeline import FAST, PHONE, Pipeline, eventually, pipeline_on, running

WAMID = "wamid.HBgNNTUxMTk5OTk5MDAwMRUCABEYEjQ1RkM5QUE2QzA5MkVDN0Y2OAA="


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with fake_graph() as server:
        yield server


def _pipeline(
    backend: Backend, graph: FakeGraph, policy: ConversationPolicy = FAST
) -> Iterator[Pipeline]:
    channel = GraphChannel("graph-token", api_base=graph.base_url, backoff_s=(0.01, 0.05))
    with pipeline_on(backend, RulesResponder(), channel, policy) as opened, running(opened):
        yield opened
    channel.close()


@pytest.fixture
def pipeline(backend: Backend, graph: FakeGraph) -> Iterator[Pipeline]:
    yield from _pipeline(backend, graph)


@pytest.fixture
def impatient_pipeline(backend: Backend, graph: FakeGraph) -> Iterator[Pipeline]:
    """A status waits 1 s for its send to be recorded (20 s by default)."""
    policy = FAST.model_copy(update={"status_link_grace": timedelta(seconds=1)})
    yield from _pipeline(backend, graph, policy)


# --- helpers -----------------------------------------------------------------------------


def report(
    pipeline: Pipeline, state: str, wamid: str = WAMID, error_code: int | None = None
) -> None:
    """Meta's status webhook for `wamid`, published on the `inbound` topic."""
    status = samples.status(state, phone=PHONE, message_id=wamid, error_code=error_code)
    body = samples.body(samples.change(statuses=[status]))
    pipeline.bus.publish(INBOUND_TOPIC, pipeline.webhook_envelopes(body))


def answered(pipeline: Pipeline, graph: FakeGraph, wamid: str = WAMID) -> tuple[str, str]:
    """The customer writes; the bot's reply goes out with WhatsApp id `wamid`. The
    session and the reply's outbound id."""
    graph.script(success(wamid))
    pipeline.say("Olá, quero um orçamento")
    session_id = pipeline.session_id()
    (sent,) = pipeline.wait_for(session_id, "OutboundSent")
    return session_id, sent.payload["outbound_id"]


def status_of(pipeline: Pipeline, session_id: str, outbound_id: str) -> MessageStatus:
    return pipeline.session(session_id).outbounds[outbound_id].status


def updates(pipeline: Pipeline, session_id: str) -> list[EventEnvelope]:
    return [e for e in pipeline.events(session_id) if e.type == "MessageStatusUpdated"]


def stays(condition: Callable[[], bool], seconds: float = 1.5, what: str = "") -> None:
    """`condition` holds now and for the next `seconds` (for what must not happen)."""
    deadline = time.monotonic() + seconds
    while True:
        assert condition(), f"no longer true: {what or condition}"
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)


# --- tests -------------------------------------------------------------------------------


def test_statuses_move_the_outbound_forward_from_sent_to_delivered_to_read(
    pipeline: Pipeline, graph: FakeGraph
) -> None:
    session_id, outbound_id = answered(pipeline, graph)
    ref = pipeline.vault.message_ref(WAMID)
    assert status_of(pipeline, session_id, outbound_id) is MessageStatus.SENT

    report(pipeline, "sent")  # what the send recorded already: nothing to move
    report(pipeline, "delivered")
    eventually(
        lambda: status_of(pipeline, session_id, outbound_id) is MessageStatus.DELIVERED,
        what="delivered",
    )
    report(pipeline, "read")
    eventually(
        lambda: status_of(pipeline, session_id, outbound_id) is MessageStatus.READ, what="read"
    )

    recorded = updates(pipeline, session_id)
    assert [e.payload["status"] for e in recorded] == ["DELIVERED", "READ"]
    for event in recorded:
        assert event.actor is Actor.SYSTEM
        assert event.payload["outbound_id"] == outbound_id
        assert event.payload["wa_message_ref"] == ref
        assert event.payload["error_code"] is None
    assert WAMID not in str([e.payload for e in pipeline.events(session_id)])


def test_a_status_of_a_message_sent_to_a_group_is_recorded_against_its_outbound(
    pipeline: Pipeline, graph: FakeGraph
) -> None:
    """Meta's group status: `recipient_id` is the group's id, not a phone number."""
    session_id, outbound_id = answered(pipeline, graph)
    status = samples.status("read", phone=None, message_id=WAMID)
    status.update(
        recipient_type="group",
        recipient_id="Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjMzOTQ2NzIwNzEzMjQZD",
        recipient_participant_id=samples.meta_digits(PHONE),
    )
    body = samples.body(samples.change(statuses=[status]))

    pipeline.bus.publish(INBOUND_TOPIC, pipeline.webhook_envelopes(body))

    eventually(
        lambda: status_of(pipeline, session_id, outbound_id) is MessageStatus.READ, what="read"
    )
    (recorded,) = updates(pipeline, session_id)
    assert recorded.payload["outbound_id"] == outbound_id


def test_a_late_delivered_after_read_and_a_repeated_report_change_nothing(
    pipeline: Pipeline, graph: FakeGraph
) -> None:
    session_id, outbound_id = answered(pipeline, graph)
    report(pipeline, "read")  # WhatsApp's reports may come out of order
    eventually(
        lambda: status_of(pipeline, session_id, outbound_id) is MessageStatus.READ, what="read"
    )

    report(pipeline, "delivered")
    report(pipeline, "read")
    report(pipeline, "failed", error_code=131047)

    stays(lambda: len(updates(pipeline, session_id)) == 1, what="nothing moves back")
    assert status_of(pipeline, session_id, outbound_id) is MessageStatus.READ
    assert [e.payload["status"] for e in updates(pipeline, session_id)] == ["READ"]


def test_a_failure_is_recorded_with_whatsapps_error_code(
    pipeline: Pipeline, graph: FakeGraph
) -> None:
    session_id, outbound_id = answered(pipeline, graph)

    report(pipeline, "failed", error_code=131047)

    (failed,) = eventually(lambda: updates(pipeline, session_id), what="the failure")
    assert failed.payload["status"] == "FAILED"
    assert failed.payload["error_code"] == 131047
    assert failed.payload["error_title"] == "Re-engagement message"
    assert status_of(pipeline, session_id, outbound_id) is MessageStatus.FAILED
    report(pipeline, "delivered")  # a failed message is not delivered after all
    stays(lambda: len(updates(pipeline, session_id)) == 1, seconds=1.0)


def test_a_status_that_arrives_before_the_send_is_recorded_waits_for_it(
    pipeline: Pipeline, graph: FakeGraph
) -> None:
    graph.script(replace(success(WAMID), delay_s=1.5))  # WhatsApp is slow to answer the send
    pipeline.say("Olá, quero um orçamento")
    session_id = pipeline.session_id()
    pipeline.wait_for(session_id, "OutboundSendStarted")

    report(pipeline, "delivered")  # Meta's report overtakes its answer to the send

    (sent,) = pipeline.wait_for(session_id, "OutboundSent")
    (delivered,) = eventually(lambda: updates(pipeline, session_id), what="the delivered report")
    assert delivered.payload["status"] == "DELIVERED"
    assert delivered.payload["outbound_id"] == sent.payload["outbound_id"]
    assert delivered.version > sent.version
    assert pipeline.bus.dead_letters(CONVERSATION_SUBSCRIPTION) == []


def test_a_status_for_a_message_never_sent_is_recorded_as_unmatched_not_dead_lettered(
    impatient_pipeline: Pipeline,
) -> None:
    pipeline = impatient_pipeline
    ref = pipeline.vault.message_ref("wamid.never-sent-by-switchboard")
    report(pipeline, "delivered", wamid="wamid.never-sent-by-switchboard")
    report(pipeline, "delivered", wamid="wamid.never-sent-by-switchboard")  # Meta again

    (unmatched,) = eventually(
        lambda: pipeline.store.read(wamessage_stream(ref)), what="the unmatched status"
    )
    assert unmatched.type == "WhatsAppStatusUnmatched"
    assert unmatched.actor is Actor.SYSTEM
    assert unmatched.payload["status"] == "DELIVERED"
    stays(lambda: len(pipeline.store.read(wamessage_stream(ref))) == 1, what="recorded once")
    assert pipeline.bus.dead_letters(CONVERSATION_SUBSCRIPTION) == []
