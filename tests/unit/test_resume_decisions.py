"""RESUME_ALL and the sessions that waited through the pause: which pause a resume
ended, which sessions it answers (and every reason it answers one not), and what its
result says, with and without `answer_waiting`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from contracts.commands import Close, PauseAll, ResumeAll, TakeOver
from contracts.streams import SYSTEM_STREAM
from contracts.vocabulary import SessionOutcome
from domain.commands import Applied
from domain.decision import Rejected
from domain.resume import Pause, pause_ended_by, resume_input_id, waited_through
from tests.unit.domain_world import World, contact

ANA = contact("ana")
BIA = contact("bia")


def applied(outcome: Applied | Rejected) -> Applied:
    assert isinstance(outcome, Applied), f"rejected: {outcome}"
    return outcome


def answered_world() -> tuple[World, str]:
    """Ana wrote and the bot answered her, before any pause."""
    world = World()
    delivered = world.receive(ANA, "oi")
    assert delivered.recorded is not None
    session_id = delivered.recorded.session_id
    assert world.answer(session_id) is not None
    world.advance(timedelta(minutes=1))
    return world, session_id


def paused(world: World, command_id: str = "pause-1") -> None:
    world.command(PauseAll(reason="incident", command_id=command_id), by="root")
    world.advance(timedelta(minutes=1))


def resumed(world: World, command_id: str = "resume-1", **fields: object) -> Pause:
    world.advance(timedelta(minutes=1))
    resume = ResumeAll.model_validate({"reason": "fixed", "command_id": command_id, **fields})
    world.command(resume, by="root")
    pause = pause_ended_by(world.read(SYSTEM_STREAM), command_id)
    assert pause is not None
    return pause


def waits(world: World, pause: Pause, session_id: str, command_id: str = "resume-1") -> bool:
    session = world.must_session(session_id)
    lead = world.lead(session.lead_id)
    return waited_through(pause, command_id, world.system(), session, lead, world.now)


# --- which pause a resume ended --------------------------------------------------------


def test_a_resume_names_the_pause_it_ended_and_a_no_op_resume_none() -> None:
    world, _ = answered_world()
    world.command(ResumeAll(reason="nothing to resume", command_id="resume-0"), by="root")
    paused(world, "pause-1")
    first_began = world.read(SYSTEM_STREAM)[-1].recorded_at
    first = resumed(world, "resume-1")
    paused(world, "pause-2")
    second_began = world.read(SYSTEM_STREAM)[-1].recorded_at
    second = resumed(world, "resume-2")

    assert pause_ended_by(world.read(SYSTEM_STREAM), "resume-0") is None
    assert first == Pause(began=first_began, resumed_under=2)
    assert second == Pause(began=second_began, resumed_under=4)
    again = ResumeAll(reason="again", command_id="resume-3")
    world.command(again, by="root")
    assert pause_ended_by(world.read(SYSTEM_STREAM), "resume-3") is None


# --- which sessions it answers ---------------------------------------------------------


def test_a_session_whose_customer_wrote_during_the_pause_waits_for_the_resume() -> None:
    world, session_id = answered_world()
    paused(world)
    assert world.receive(ANA, "alô?").recorded is not None
    assert world.answer(session_id) is None  # the gate: nothing drafted while paused

    pause = resumed(world)

    assert world.must_session(session_id).pending_refs()
    assert waits(world, pause, session_id)


def test_a_session_answered_before_the_pause_does_not_wait() -> None:
    world, session_id = answered_world()
    paused(world)
    pause = resumed(world)
    assert not waits(world, pause, session_id)


def test_a_message_pending_from_before_the_pause_is_not_the_pause_s_doing() -> None:
    world = World()
    delivered = world.receive(ANA, "oi")  # the responder failed for it, say
    assert delivered.recorded is not None
    world.advance(timedelta(minutes=1))
    paused(world)
    pause = resumed(world)
    assert not waits(world, pause, delivered.recorded.session_id)


def test_a_session_answered_by_this_resume_already_does_not_wait_again() -> None:
    world, session_id = answered_world()
    paused(world)
    world.receive(ANA, "alô?")
    pause = resumed(world)
    drafted = world.draft(session_id, input_id=resume_input_id("resume-1", session_id))
    world.receive(ANA, "e aí?")  # a newer message: the resume's draft is superseded
    world.reply(drafted)

    assert world.must_session(session_id).pending  # still waiting for the newer one's reply
    assert not waits(world, pause, session_id)
    assert waits(world, pause, session_id, command_id="resume-other")


def test_a_session_under_takeover_does_not_wait_for_the_bot() -> None:
    world, session_id = answered_world()
    paused(world)
    world.command(TakeOver(target_session_id=session_id, reason="vip"), by="ana")
    world.receive(ANA, "alô?")
    pause = resumed(world)
    assert world.must_session(session_id).pending  # for the operator, not the bot
    assert not waits(world, pause, session_id)


def test_a_closed_session_does_not_wait() -> None:
    world, session_id = answered_world()
    paused(world)
    world.receive(ANA, "alô?")
    close = Close(
        target_session_id=session_id, reason="resolvido", outcome=SessionOutcome.SELF_SERVE_INFO
    )
    world.command(close, by="ana")
    pause = resumed(world)
    assert not waits(world, pause, session_id)


def test_a_session_in_cooldown_does_not_wait() -> None:
    world, session_id = answered_world()
    paused(world)
    for _ in range(12):
        world.receive(ANA, "oi")
    session = world.must_session(session_id)
    assert session.in_cooldown(world.now)
    pause = resumed(world)
    assert not waits(world, pause, session_id)


def test_a_session_whose_24_hour_window_closed_does_not_wait() -> None:
    world, session_id = answered_world()
    paused(world)
    world.receive(ANA, "alô?")
    other = world.receive(BIA, "oi?")
    assert other.recorded is not None
    world.advance(timedelta(hours=24, minutes=-1))
    bia = other.recorded.session_id
    world.receive(BIA, "ainda aí?")  # Bia wrote again: her window is open
    pause = resumed(world)

    assert not waits(world, pause, session_id)
    assert waits(world, pause, bia)


def test_a_session_still_paused_again_does_not_wait_until_the_next_resume() -> None:
    world, session_id = answered_world()
    paused(world)
    world.receive(ANA, "alô?")
    pause = resumed(world)
    paused(world, "pause-2")
    assert not waits(world, pause, session_id)


def test_a_takeover_that_commits_before_the_resume_s_claim_wins() -> None:
    world, session_id = answered_world()
    paused(world)
    world.receive(ANA, "alô?")
    pause = resumed(world)
    assert waits(world, pause, session_id)
    drafted = world.draft(session_id, input_id=resume_input_id("resume-1", session_id))
    world.command(TakeOver(target_session_id=session_id, reason="vip"), by="ana")

    claimed = world.reply(drafted)

    assert [e.type for e in claimed] == ["ReplyDrafted", "OutboundSuppressed"]
    assert claimed[1].payload["reason"] == "HUMAN_TAKEOVER"


# --- the command and its result --------------------------------------------------------


def test_the_resume_s_result_says_whether_it_answers_what_waited() -> None:
    world, _ = answered_world()
    paused(world)
    answering = applied(world.command(ResumeAll(reason="fixed"), by="root"))
    paused(world, "pause-2")
    quiet = applied(world.command(ResumeAll(reason="fixed", answer_waiting=False), by="root"))
    again = applied(world.command(ResumeAll(reason="fixed"), by="root"))

    assert answering.result == (
        "global control v1 → v2: LLM_ACTIVE; answering the sessions that waited"
    )
    assert quiet.result == (
        "global control v3 → v4: LLM_ACTIVE; not answering the sessions that waited "
        "(answer_waiting: false): they are answered when they write again"
    )
    assert again.result == "already LLM_ACTIVE (v4)"


@pytest.mark.parametrize("value", ["false", 0, 1, None])
def test_answer_waiting_is_a_strict_bool(value: object) -> None:
    with pytest.raises(ValidationError, match="answer_waiting"):
        ResumeAll.model_validate({"reason": "fixed", "answer_waiting": value})
    assert ResumeAll(reason="fixed").answer_waiting is True
