"""Operators' commands as `decide_command` applies or rejects them: what each one
changes, and every reason it may be refused (a stale control version, a closed or
unknown session, a takeover someone else holds, a closed 24-hour window)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
from contracts.envelope import Actor
from contracts.events import (
    ContactForgotten,
    ControlChanged,
    GlobalModeChanged,
    LeadForgotten,
    LeadMarkedReadyForHuman,
    LeadStatusChanged,
    NoteAdded,
    OutboundClaimed,
    OutboundKind,
    SessionClosed,
)
from contracts.streams import SYSTEM_STREAM, contact_stream, lead_stream, session_stream
from contracts.vocabulary import (
    GlobalMode,
    HandoffReason,
    LeadStatus,
    Priority,
    SessionMode,
    SessionOutcome,
)
from domain.commands import Applied, CommandContext, decide_command
from domain.decision import Rejected
from domain.echo import APP_ASSIGNEE
from domain.ids import lead_id_for, outbound_id_for
from domain.sending import WINDOW_CLOSED
from domain.system import System
from tests.unit.domain_world import T0, World, contact

ANA = contact("ana")
LEAD = lead_stream(lead_id_for(ANA))
MakeVersioned = Callable[[str, int | None], OperatorCommand]
"""A command on a session, naming the control version it expects."""


def opened() -> tuple[World, str]:
    """A world with one open session, the bot in charge."""
    world = World()
    delivered = world.receive(ANA, "oi")
    assert delivered.recorded is not None
    return world, delivered.recorded.session_id


def applied(outcome: Applied | Rejected) -> Applied:
    assert isinstance(outcome, Applied), f"rejected: {outcome}"
    return outcome


def rejected(outcome: Applied | Rejected) -> str:
    assert isinstance(outcome, Rejected), f"applied: {outcome}"
    return str(outcome)


def take_over(session_id: str, expected: int | None = None) -> TakeOver:
    return TakeOver(target_session_id=session_id, reason="vip", expected_control_version=expected)


def release(session_id: str, expected: int | None = None) -> Release:
    return Release(target_session_id=session_id, reason="done", expected_control_version=expected)


def close(session_id: str, **changes: object) -> Close:
    fields: dict[str, object] = {
        "target_session_id": session_id,
        "reason": "resolvido",
        "outcome": SessionOutcome.SELF_SERVE_INFO,
        **changes,
    }
    return Close.model_validate(fields)


def send(session_id: str, expected: int | None = None) -> SendMessage:
    return SendMessage(
        target_session_id=session_id, text="Oi, aqui é a Ana", expected_control_version=expected
    )


# --- TAKEOVER ----------------------------------------------------------------------------


def test_a_takeover_hands_the_session_to_the_operator_and_the_lead_to_a_human() -> None:
    world, session_id = opened()
    result = applied(world.command(take_over(session_id, expected=0), by="ana"))

    assert result.result == "control v0 → v1: HUMAN_TAKEOVER by ana"
    assert [(e.stream_id, e.event, e.actor) for e in result.emits] == [
        (
            session_stream(session_id),
            ControlChanged(
                mode=SessionMode.HUMAN_TAKEOVER,
                human_assignee="ana",
                reason="vip",
                version=1,
                by="ana",
            ),
            Actor.HUMAN,
        ),
        (
            LEAD,
            LeadStatusChanged(
                status=LeadStatus.IN_HUMAN,
                previous_status=LeadStatus.OPEN,
                reason="taken over by ana",
                by="ana",
            ),
            Actor.HUMAN,
        ),
    ]
    session = world.must_session(session_id)
    assert (session.mode, session.assignee, session.control_version) == (
        SessionMode.HUMAN_TAKEOVER,
        "ana",
        1,
    )
    assert world.must_lead(lead_id_for(ANA)).status is LeadStatus.IN_HUMAN


def test_taking_over_again_what_you_hold_changes_nothing() -> None:
    world, session_id = opened()
    world.command(take_over(session_id), by="ana")
    again = applied(world.command(take_over(session_id), by="ana"))
    assert again.emits == []
    assert again.result == "already yours (control v1)"


def test_a_takeover_held_by_another_operator_is_refused() -> None:
    world, session_id = opened()
    world.command(take_over(session_id), by="ana")
    reason = rejected(world.command(take_over(session_id), by="bia"))
    assert reason == "ana holds this conversation; they must release it first"
    assert world.must_session(session_id).assignee == "ana"


@pytest.mark.parametrize(
    ("make", "verb"),
    [(release, "release"), (lambda s, v: close(s, expected_control_version=v), "close")],
    ids=["RELEASE", "CLOSE"],
)
def test_only_the_holder_or_an_admin_releases_or_closes_a_takeover(
    make: MakeVersioned, verb: str
) -> None:
    world, session_id = opened()
    world.command(take_over(session_id), by="ana")
    before = world.read(session_stream(session_id))

    reason = rejected(world.command(make(session_id, None), by="bia"))

    assert reason == f"ana holds this conversation; only they or an admin may {verb} it"
    assert world.read(session_stream(session_id)) == before
    assert applied(world.command(make(session_id, None), by="carla", admin=True)).emits


def test_the_holder_releases_what_they_hold() -> None:
    world, session_id = opened()
    world.command(take_over(session_id), by="ana")
    assert applied(world.command(release(session_id), by="ana")).emits
    assert world.must_session(session_id).mode is SessionMode.LLM_ACTIVE


def test_an_operator_takes_over_from_someone_writing_in_the_business_app() -> None:
    """An echo hands the session to the app's user; an operator need not RELEASE it to
    the bot first (which would let the bot answer in between)."""
    world, session_id = opened()
    world.command(take_over(session_id), by=APP_ASSIGNEE)
    taken = applied(world.command(take_over(session_id), by="bia"))
    assert taken.emits
    session = world.must_session(session_id)
    assert (session.mode, session.assignee) == (SessionMode.HUMAN_TAKEOVER, "bia")


@pytest.mark.parametrize(
    "make",
    [take_over, release, lambda s, v: close(s, expected_control_version=v), send],
    ids=["TAKEOVER", "RELEASE", "CLOSE", "SEND_MESSAGE"],
)
def test_a_stale_control_version_is_refused(make: MakeVersioned) -> None:
    world, session_id = opened()
    world.command(take_over(session_id), by="ana")  # control now at v1
    command = make(session_id, 0)
    before = world.read(session_stream(session_id))

    reason = rejected(world.command(command, by="ana"))

    assert reason == "control changed since you looked (expected v0, at v1)"
    assert world.read(session_stream(session_id)) == before


@pytest.mark.parametrize(
    "make",
    [
        lambda s: take_over(s),
        lambda s: release(s),
        lambda s: close(s),
        lambda s: send(s),
        lambda s: MarkReadyForHuman(target_session_id=s, reason="orçamento"),
    ],
    ids=["TAKEOVER", "RELEASE", "CLOSE", "SEND_MESSAGE", "MARK_READY"],
)
def test_a_closed_session_refuses_every_command_that_would_change_it(
    make: Callable[[str], OperatorCommand],
) -> None:
    world, session_id = opened()
    world.command(take_over(session_id), by="ana")
    world.command(close(session_id), by="ana")

    reason = rejected(world.command(make(session_id), by="ana"))
    assert "closed" in reason


@pytest.mark.parametrize(
    "command",
    [
        take_over("nope"),
        release("nope"),
        close("nope"),
        send("nope"),
        MarkReadyForHuman(target_session_id="nope", reason="x"),
        AddNote(target_session_id="nope", text="x"),
        ForgetContact(target_session_id="nope", reason="LGPD"),
    ],
    ids=lambda c: c.type,
)
def test_an_unknown_session_is_refused(command: OperatorCommand) -> None:
    context = CommandContext("cmd-1", "ana", T0, None, None, System())
    with pytest.raises(Rejected, match="no session 'nope'"):
        decide_command(command, context)


@pytest.mark.parametrize("make", [take_over, release, send], ids=["TAKEOVER", "RELEASE", "SEND"])
def test_an_expired_session_refuses_control_and_messages(make: MakeVersioned) -> None:
    world, session_id = opened()
    world.advance(timedelta(hours=24))
    world.receive(ANA, "voltei")  # expires the first session
    reason = rejected(world.command(make(session_id, None), by="ana"))
    assert reason == "the session expired; the contact's next message opens a new one"


# --- RELEASE -----------------------------------------------------------------------------


def test_a_release_gives_the_session_back_to_the_bot() -> None:
    world, session_id = opened()
    world.command(take_over(session_id), by="ana")
    result = applied(world.command(release(session_id, expected=1), by="ana"))

    assert result.result == "control v1 → v2: LLM_ACTIVE"
    changed, status = (e.event for e in result.emits)
    assert changed == ControlChanged(
        mode=SessionMode.LLM_ACTIVE, reason="done", version=2, by="ana"
    )
    assert isinstance(status, LeadStatusChanged)
    assert (status.previous_status, status.status) == (LeadStatus.IN_HUMAN, LeadStatus.QUALIFYING)
    session = world.must_session(session_id)
    assert (session.mode, session.assignee, session.control_version) == (
        SessionMode.LLM_ACTIVE,
        None,
        2,
    )


def test_releasing_what_the_bot_has_changes_nothing() -> None:
    world, session_id = opened()
    result = applied(world.command(release(session_id), by="ana"))
    assert result.emits == []
    assert result.result == "the bot already has it (control v0)"


def test_a_release_leaves_a_lead_that_is_not_with_a_human_alone() -> None:
    world, session_id = opened()
    world.command(take_over(session_id), by="ana")
    lead = world.must_lead(lead_id_for(ANA))
    ready = lead.model_copy(update={"status": LeadStatus.READY_FOR_HUMAN})
    session = world.must_session(session_id)
    context = CommandContext("cmd-1", "ana", world.now, session, ready, world.system())
    result = decide_command(release(session_id), context)
    assert [type(e.event) for e in result.emits] == [ControlChanged]


# --- CLOSE -------------------------------------------------------------------------------


def test_close_closes_the_session_and_its_lead_with_a_note_and_a_block() -> None:
    world, session_id = opened()
    command = close(session_id, note="enviado link", reopen_cooldown_minutes=1440)
    result = applied(world.command(command, by="ana"))

    assert result.result == (
        "closed with outcome SELF_SERVE_INFO; no new session before 2025-03-04T12:00+00:00"
    )
    session_closed, lead_closed = (e.event for e in result.emits)
    assert session_closed == SessionClosed(
        outcome=SessionOutcome.SELF_SERVE_INFO,
        reason="resolvido",
        note="enviado link",
        closed_by="ana",
        reopen_blocked_until=T0 + timedelta(days=1),
    )
    assert isinstance(lead_closed, LeadStatusChanged)
    assert lead_closed.status is LeadStatus.CLOSED
    session = world.must_session(session_id)
    assert session.closed
    assert session.closed_at == T0
    assert world.must_lead(lead_id_for(ANA)).status is LeadStatus.CLOSED


def test_close_without_a_block_says_so() -> None:
    world, session_id = opened()
    result = applied(world.command(close(session_id), by="ana"))
    assert result.result == "closed with outcome SELF_SERVE_INFO"
    assert world.must_session(session_id).reopen_blocked_until is None


def test_closing_twice_is_refused() -> None:
    world, session_id = opened()
    world.command(close(session_id), by="ana")
    assert rejected(world.command(close(session_id), by="bia")) == "the session is closed already"


def test_closing_an_expired_session_leaves_the_lead_of_the_live_session_alone() -> None:
    world, old = opened()
    world.advance(timedelta(hours=24))
    delivered = world.receive(ANA, "voltei")  # expires `old`, opens the live session
    assert delivered.recorded is not None
    live = delivered.recorded.session_id

    outcome = world.command(close(old, outcome=SessionOutcome.UNRESPONSIVE), by="ana")

    lead = world.must_lead(lead_id_for(ANA))
    assert lead.session_id == live
    assert not world.must_session(live).ended
    # the contact is talking to the bot in `live`: its lead is not CLOSED
    assert isinstance(outcome, Rejected) or lead.status is not LeadStatus.CLOSED


# --- MARK_READY_FOR_HUMAN ---------------------------------------------------------------


def test_mark_ready_hands_the_lead_off_without_taking_the_session_over() -> None:
    world, session_id = opened()
    command = MarkReadyForHuman(
        target_session_id=session_id, reason="pediu orçamento", priority=Priority.HIGH
    )
    result = applied(world.command(command, by="ana"))

    marked, status = (e.event for e in result.emits)
    assert marked == LeadMarkedReadyForHuman(
        session_id=session_id,
        priority=Priority.HIGH,
        handoff_reason=HandoffReason.OPERATOR_MARKED,
        detail="pediu orçamento",
        by="ana",
    )
    assert isinstance(status, LeadStatusChanged)
    assert status.status is LeadStatus.READY_FOR_HUMAN
    assert world.must_session(session_id).mode is SessionMode.LLM_ACTIVE  # not a takeover
    assert world.must_lead(lead_id_for(ANA)).priority is Priority.HIGH


def test_mark_ready_twice_changes_nothing() -> None:
    world, session_id = opened()
    command = MarkReadyForHuman(target_session_id=session_id, reason="x")
    world.command(command)
    again = applied(world.command(command))
    assert again.emits == []
    assert again.result == "the lead is ready for a human already"


def test_mark_ready_on_a_lead_with_a_human_is_refused() -> None:
    world, session_id = opened()
    world.command(take_over(session_id), by="ana")
    command = MarkReadyForHuman(target_session_id=session_id, reason="x")
    assert rejected(world.command(command)) == "a human has this lead already"


def test_mark_ready_on_a_closed_lead_is_refused() -> None:
    world, session_id = opened()
    lead = world.must_lead(lead_id_for(ANA)).model_copy(update={"status": LeadStatus.CLOSED})
    context = CommandContext(
        "cmd-1", "ana", world.now, world.must_session(session_id), lead, world.system()
    )
    with pytest.raises(Rejected, match="the lead is closed"):
        decide_command(MarkReadyForHuman(target_session_id=session_id, reason="x"), context)

    world.command(close(session_id))
    command = MarkReadyForHuman(target_session_id=session_id, reason="x")
    assert rejected(world.command(command)) == "the session is closed"


# --- PAUSE_ALL and RESUME_ALL ------------------------------------------------------------


def test_pause_all_pauses_every_bot_and_twice_is_a_no_op() -> None:
    world, _ = opened()
    first = applied(world.command(PauseAll(reason="incident", expected_control_version=0)))
    assert [(e.stream_id, e.event) for e in first.emits] == [
        (
            SYSTEM_STREAM,
            GlobalModeChanged(
                mode=GlobalMode.PAUSED_GLOBAL, version=1, by="ana", reason="incident"
            ),
        )
    ]
    assert first.result == "global control v0 → v1: PAUSED_GLOBAL"

    second = applied(world.command(PauseAll(reason="again")))
    assert second.emits == []
    assert second.result == "already PAUSED_GLOBAL (v1)"
    assert world.system() == System(mode=GlobalMode.PAUSED_GLOBAL, control_version=1, version=1)


def test_resume_all_resumes_and_resuming_what_runs_is_a_no_op() -> None:
    world, _ = opened()
    assert applied(world.command(ResumeAll(reason="fine"))).emits == []
    world.command(PauseAll(reason="incident"))
    resumed = applied(world.command(ResumeAll(reason="fixed", expected_control_version=1)))
    assert (
        resumed.result == "global control v1 → v2: LLM_ACTIVE; answering the sessions that waited"
    )
    assert world.system() == System(mode=GlobalMode.LLM_ACTIVE, control_version=2, version=2)


@pytest.mark.parametrize("command", [PauseAll, ResumeAll])
def test_a_stale_global_version_is_refused(command: type[PauseAll] | type[ResumeAll]) -> None:
    world, _ = opened()
    world.command(PauseAll(reason="incident"))
    world.command(ResumeAll(reason="fixed"))
    reason = rejected(world.command(command(reason="x", expected_control_version=1)))
    assert reason == "the global control changed since you looked (expected v1, at v2)"
    assert world.system().control_version == 2


# --- SEND_MESSAGE ------------------------------------------------------------------------


def test_the_operator_holding_the_takeover_may_send_even_while_everything_is_paused() -> None:
    world, session_id = opened()
    world.command(take_over(session_id), by="ana")
    world.command(PauseAll(reason="incident"), by="admin")
    command = send(session_id, expected=1).model_copy(update={"command_id": "cmd-send"})

    result = applied(world.command(command, by="ana"))

    outbound_id = outbound_id_for("cmd-send")
    assert result.result == f"message {outbound_id} queued for sending"
    [emit] = result.emits
    assert emit.actor is Actor.HUMAN
    assert emit.event == OutboundClaimed(
        outbound_id=outbound_id,
        kind=OutboundKind.OPERATOR,
        text="Oi, aqui é a Ana",
        to_hash=ANA,
        control_version=1,
        global_version=1,
        by="ana",
    )
    assert world.must_session(session_id).outbounds[outbound_id].kind is OutboundKind.OPERATOR


def test_nobody_may_send_while_the_bot_has_the_session() -> None:
    world, session_id = opened()
    reason = rejected(world.command(send(session_id), by="ana"))
    assert reason == "only the operator holding the takeover may send (nobody has taken it over)"


def test_an_operator_not_holding_the_takeover_may_not_send() -> None:
    world, session_id = opened()
    world.command(take_over(session_id), by="ana")
    reason = rejected(world.command(send(session_id), by="bia"))
    assert reason == "only the operator holding the takeover may send (ana holds it)"


def test_no_message_may_be_sent_outside_the_24_hour_window() -> None:
    world, session_id = opened()
    world.command(take_over(session_id), by="ana")
    world.advance(timedelta(hours=23, minutes=59))
    applied(world.command(send(session_id), by="ana"))
    world.advance(timedelta(minutes=1))
    assert rejected(world.command(send(session_id), by="ana")) == WINDOW_CLOSED


# --- ADD_NOTE and FORGET_CONTACT ---------------------------------------------------------


def test_a_note_is_added_even_to_a_closed_session() -> None:
    world, session_id = opened()
    world.command(close(session_id))
    result = applied(world.command(AddNote(target_session_id=session_id, text="ligar"), by="bia"))
    assert [e.event for e in result.emits] == [NoteAdded(text="ligar", by="bia")]


def test_forgetting_a_contact_is_recorded_on_its_lead_and_its_contact() -> None:
    world, session_id = opened()
    result = applied(world.command(ForgetContact(target_session_id=session_id, reason="LGPD")))
    assert [(e.stream_id, e.event) for e in result.emits] == [
        (LEAD, LeadForgotten(by="ana", reason="LGPD")),
        (contact_stream(ANA), ContactForgotten(by="ana", reason="LGPD")),
    ]
    assert world.must_lead(lead_id_for(ANA)).forgotten_at == world.now


# --- control as a property ---------------------------------------------------------------

control_commands = st.tuples(
    st.sampled_from(["TAKEOVER", "RELEASE"]),
    st.sampled_from(["ana", "bia"]),
    st.none() | st.integers(0, 6),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(control_commands, max_size=12))
def test_control_changes_only_by_applied_commands_one_version_at_a_time(
    commands: list[tuple[str, str, int | None]],
) -> None:
    world, session_id = opened()
    holder: str | None = None
    version = 0
    for kind, by, expected in commands:
        before = world.must_session(session_id)
        make = take_over if kind == "TAKEOVER" else release
        outcome = world.command(make(session_id, expected), by=by)
        after = world.must_session(session_id)
        stale = expected is not None and expected != version
        if stale or holder not in (None, by):  # what another holds, none but they change
            assert isinstance(outcome, Rejected)
            assert after == before
            continue
        assert isinstance(outcome, Applied)
        changes = holder is None if kind == "TAKEOVER" else holder is not None
        if changes:
            version += 1
            holder = by if kind == "TAKEOVER" else None
        else:
            assert outcome.emits == []
        assert after.control_version == version
        assert after.assignee == holder
        expected_mode = SessionMode.HUMAN_TAKEOVER if holder else SessionMode.LLM_ACTIVE
        assert after.mode is expected_mode
        assert all(e.actor is Actor.HUMAN and e.occurred_at == world.now for e in outcome.emits)
