"""RESUME_ALL on each back end: the sessions whose customer wrote during the pause get
one reply each (not those under takeover, nor those answered before), a redelivered
RESUME_ALL answers nobody twice, and with `answer_waiting: false` nobody is answered
until they write again. The command's stream records what was done."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.llm.rules import RulesResponder
from adapters.whatsapp.sandbox import SandboxChannel
from contracts.commands import PauseAll, ResumeAll, TakeOver
from contracts.envelope import EventEnvelope
from contracts.operators import Role
from contracts.streams import command_stream
from tests.backends import Backend
from tests.integration.test_projections import open_snapshots, wait_caught_up
from tests.pipeline import FAST, Pipeline, eventually, pipeline_on, running
from workers.commands import CommandWorker

ANA, BIA, CAIO = "+5511999990001", "+5511999990002", "+5511999990003"


@pytest.fixture
def pipeline(backend: Backend, tmp_path: Path) -> Iterator[Pipeline]:
    channel = SandboxChannel(tmp_path / "outbox.jsonl")
    with pipeline_on(backend, RulesResponder(), channel, FAST) as opened:
        opened.snapshots = open_snapshots(opened.backend)
        with running(opened):
            yield opened
        opened.snapshots.close()


def answered(pipeline: Pipeline, phone: str) -> str:
    pipeline.say("Olá", phone=phone)
    session_id = pipeline.session_id(phone)
    pipeline.wait_for(session_id, "OutboundClaimed")
    return session_id


def claims_by(pipeline: Pipeline, session_id: str, command_id: str) -> list[EventEnvelope]:
    return [
        e
        for e in pipeline.events(session_id)
        if e.type == "OutboundClaimed" and e.correlation_id == command_id
    ]


def admin(pipeline: Pipeline, command: PauseAll | ResumeAll | TakeOver) -> str:
    command_id = pipeline.command(command, by="root", role=Role.ADMIN)
    assert pipeline.decided(command_id).status == "APPLIED"
    return command_id


def paused_with_three_sessions(pipeline: Pipeline) -> tuple[str, str, str]:
    """Ana writes during the pause; Bia too, but an operator holds her session; Caio
    was answered before the pause and says nothing more."""
    ana, bia, caio = answered(pipeline, ANA), answered(pipeline, BIA), answered(pipeline, CAIO)
    admin(pipeline, TakeOver(target_session_id=bia, reason="vip"))
    admin(pipeline, PauseAll(reason="incidente"))
    pipeline.say("alô? quanto custa?", phone=ANA)
    pipeline.say("alô?", phone=BIA)
    pipeline.wait_for(ana, "MessageReceived", count=2)
    pipeline.wait_for(bia, "MessageReceived", count=2)
    wait_caught_up(pipeline, timeout=30)
    return ana, bia, caio


def test_resume_answers_each_waiting_session_once_and_redelivery_adds_nothing(
    pipeline: Pipeline,
) -> None:
    ana, bia, caio = paused_with_three_sessions(pipeline)

    resume = admin(pipeline, ResumeAll(reason="resolvido"))

    stream = command_stream(resume)
    done = eventually(
        lambda: [e for e in pipeline.store.read(stream) if e.type == "WaitingSessionsAnswered"],
        what="the resume to answer what waited",
    )
    assert done[0].payload == {"answered": [ana], "suppressed": [], "failed": []}
    assert len(claims_by(pipeline, ana, resume)) == 1
    assert claims_by(pipeline, bia, resume) == claims_by(pipeline, caio, resume) == []
    assert not pipeline.session(ana).pending

    pipeline.wait_for(ana, "OutboundSent", count=2)  # the sender is done with it
    recorded = {s: pipeline.events(s) for s in (ana, bia, caio)}
    command_events = pipeline.store.read(stream)
    CommandWorker(pipeline.services).handle(command_events[0])  # a redelivery
    assert {s: pipeline.events(s) for s in (ana, bia, caio)} == recorded
    assert pipeline.store.read(stream) == command_events


def test_resume_without_answer_waiting_answers_nobody_until_they_write_again(
    pipeline: Pipeline,
) -> None:
    ana, _, _ = paused_with_three_sessions(pipeline)
    claimed = len([e for e in pipeline.events(ana) if e.type == "OutboundClaimed"])

    resume = admin(pipeline, ResumeAll(reason="resolvido", answer_waiting=False))

    decided = pipeline.decided(resume)
    assert decided.result is not None
    assert decided.result.endswith(
        "(answer_waiting: false): they are answered when they write again"
    )
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert [e.type for e in pipeline.store.read(command_stream(resume))] == [
            "CommandRequested",
            "CommandApplied",
        ]
        assert len([e for e in pipeline.events(ana) if e.type == "OutboundClaimed"]) == claimed
        time.sleep(0.05)
    pipeline.say("e agora?", phone=ANA)
    pipeline.wait_for(ana, "OutboundClaimed", count=claimed + 1)
    assert claims_by(pipeline, ana, resume) == []
