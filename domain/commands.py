"""Operators' commands: each is applied, with a result saying what changed, or
rejected with a reason the operator can act on. Control changes are compare-and-set:
a command that names the control version it saw is rejected if the control moved."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

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
from contracts.envelope import Actor, Event
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
from contracts.vocabulary import GlobalMode, HandoffReason, LeadStatus, SessionMode
from domain.decision import Emit, Rejected
from domain.echo import APP_ASSIGNEE
from domain.ids import outbound_id_for
from domain.lead import Lead, forgotten_for
from domain.sending import WINDOW_CLOSED
from domain.session import Session
from domain.system import System


@dataclass(frozen=True)
class CommandContext:
    command_id: str
    requested_by: str
    now: datetime
    session: Session | None
    lead: Lead | None
    system: System
    requested_by_admin: bool = False


@dataclass(frozen=True)
class Applied:
    result: str
    emits: list[Emit] = field(default_factory=list)


def decide_command(command: OperatorCommand, context: CommandContext) -> Applied:
    """Raises `Rejected`."""
    decide: Callable[[Any, CommandContext], Applied] = _DECISIONS[type(command)]
    return decide(command, context)


# --- helpers ---------------------------------------------------------------------------


def _open_session(context: CommandContext, target: str) -> Session:
    session = context.session
    if session is None:
        raise Rejected(f"no session {target!r}")
    if session.closed:
        raise Rejected("the session is closed")
    if session.expired:
        raise Rejected("the session expired; the contact's next message opens a new one")
    return session


def _check_version(expected: int | None, actual: int, what: str = "control") -> None:
    if expected is not None and expected != actual:
        raise Rejected(f"{what} changed since you looked (expected v{expected}, at v{actual})")


def _emit(context: CommandContext, stream: str, event: Event, key: str = "") -> Emit:
    return Emit(stream, event, Actor.HUMAN, context.now, key)


def _lead_status(context: CommandContext, status: LeadStatus, reason: str) -> list[Emit]:
    lead = context.lead
    if lead is None or lead.status is status:
        return []
    changed = LeadStatusChanged(
        status=status, previous_status=lead.status, reason=reason, by=context.requested_by
    )
    return [_emit(context, lead_stream(lead.lead_id), changed)]


def _control_change(
    context: CommandContext, session: Session, mode: SessionMode, reason: str
) -> tuple[Emit, str]:
    version = session.control_version + 1
    assignee = context.requested_by if mode is SessionMode.HUMAN_TAKEOVER else None
    changed = ControlChanged(
        mode=mode, human_assignee=assignee, reason=reason, version=version,
        by=context.requested_by,
    )  # fmt: skip
    result = f"control v{session.control_version} → v{version}: {mode.value}"
    if assignee:
        result += f" by {assignee}"
    return _emit(context, session_stream(session.session_id), changed), result


# --- one decision per command ----------------------------------------------------------


def _take_over(command: TakeOver, context: CommandContext) -> Applied:
    session = _open_session(context, command.target_session_id)
    _check_version(command.expected_control_version, session.control_version)
    if session.mode is SessionMode.HUMAN_TAKEOVER:
        if session.assignee == context.requested_by:
            return Applied(f"already yours (control v{session.control_version})")
        if session.assignee != APP_ASSIGNEE:  # a person on the phone yields to an operator
            raise Rejected(
                f"{session.assignee} holds this conversation; they must release it first"
            )
    changed, result = _control_change(context, session, SessionMode.HUMAN_TAKEOVER, command.reason)
    lead = context.lead
    status = [] if lead and lead.status is LeadStatus.CLOSED else _lead_status(
        context, LeadStatus.IN_HUMAN, f"taken over by {context.requested_by}"
    )  # fmt: skip
    return Applied(result, [changed, *status])


def _check_holder(session: Session, context: CommandContext, verb: str) -> None:
    """What an operator holds is theirs: another may not hand it back or close it under
    them. An admin may, and so may anyone when the holder is the Business app."""
    holder = session.assignee if session.mode is SessionMode.HUMAN_TAKEOVER else None
    if holder in (None, context.requested_by, APP_ASSIGNEE) or context.requested_by_admin:
        return
    raise Rejected(f"{holder} holds this conversation; only they or an admin may {verb} it")


def _release(command: Release, context: CommandContext) -> Applied:
    session = _open_session(context, command.target_session_id)
    _check_version(command.expected_control_version, session.control_version)
    _check_holder(session, context, "release")
    if session.mode is SessionMode.LLM_ACTIVE:
        return Applied(f"the bot already has it (control v{session.control_version})")
    changed, result = _control_change(context, session, SessionMode.LLM_ACTIVE, command.reason)
    lead = context.lead
    status = []
    if lead is not None and lead.status is LeadStatus.IN_HUMAN:
        status = _lead_status(context, LeadStatus.QUALIFYING, "released to the bot")
    return Applied(result, [changed, *status])


def _close(command: Close, context: CommandContext) -> Applied:
    session = context.session
    if session is None:
        raise Rejected(f"no session {command.target_session_id!r}")
    if session.closed:
        raise Rejected("the session is closed already")
    _check_version(command.expected_control_version, session.control_version)
    _check_holder(session, context, "close")
    # an expired session has a successor already: blocking a reopen means nothing
    minutes = None if session.expired else command.reopen_cooldown_minutes
    blocked_until = context.now + timedelta(minutes=minutes) if minutes else None
    closed = SessionClosed(
        outcome=command.outcome, reason=command.reason, note=command.note,
        closed_by=context.requested_by, reopen_blocked_until=blocked_until,
    )  # fmt: skip
    emits = [_emit(context, session_stream(session.session_id), closed)]
    lead = context.lead
    if lead is not None and lead.session_id == session.session_id:  # not a session gone by
        emits += _lead_status(context, LeadStatus.CLOSED, f"closed: {command.outcome.value}")
    result = f"closed with outcome {command.outcome.value}"
    if blocked_until:
        result += f"; no new session before {blocked_until.isoformat(timespec='minutes')}"
    return Applied(result, emits)


def _mark_ready(command: MarkReadyForHuman, context: CommandContext) -> Applied:
    session = _open_session(context, command.target_session_id)
    lead = context.lead
    if lead is None:
        raise Rejected("the session has no lead")
    if lead.status is LeadStatus.READY_FOR_HUMAN:
        return Applied("the lead is ready for a human already")
    if lead.status is LeadStatus.IN_HUMAN:
        raise Rejected("a human has this lead already")
    if lead.status is LeadStatus.CLOSED:
        raise Rejected("the lead is closed")
    marked = LeadMarkedReadyForHuman(
        session_id=session.session_id, priority=command.priority,
        handoff_reason=HandoffReason.OPERATOR_MARKED, detail=command.reason,
        by=context.requested_by,
    )  # fmt: skip
    emits = [_emit(context, lead_stream(lead.lead_id), marked)]
    emits += _lead_status(context, LeadStatus.READY_FOR_HUMAN, command.reason)
    return Applied(f"lead ready for a human ({command.priority.value})", emits)


def _global(
    context: CommandContext, mode: GlobalMode, reason: str, expected: int | None
) -> Applied:
    system = context.system
    _check_version(expected, system.control_version, "the global control")
    if system.mode is mode:
        return Applied(f"already {mode.value} (v{system.control_version})")
    version = system.control_version + 1
    changed = GlobalModeChanged(mode=mode, version=version, by=context.requested_by, reason=reason)
    result = f"global control v{system.control_version} → v{version}: {mode.value}"
    return Applied(result, [_emit(context, SYSTEM_STREAM, changed)])


def _pause_all(command: PauseAll, context: CommandContext) -> Applied:
    return _global(
        context, GlobalMode.PAUSED_GLOBAL, command.reason, command.expected_control_version
    )


def _resume_all(command: ResumeAll, context: CommandContext) -> Applied:
    """Which sessions waited is found after the commit (`domain.resume`): the result
    says whether they will be answered."""
    resumed = _global(
        context, GlobalMode.LLM_ACTIVE, command.reason, command.expected_control_version
    )
    if not resumed.emits:
        return resumed
    if command.answer_waiting:
        return Applied(f"{resumed.result}; answering the sessions that waited", resumed.emits)
    waiting = (
        "not answering the sessions that waited (answer_waiting: false): "
        "they are answered when they write again"
    )
    return Applied(f"{resumed.result}; {waiting}", resumed.emits)


def _send_message(command: SendMessage, context: CommandContext) -> Applied:
    session = _open_session(context, command.target_session_id)
    if session.mode is not SessionMode.HUMAN_TAKEOVER or session.assignee != context.requested_by:
        holder = f"{session.assignee} holds it" if session.assignee else "nobody has taken it over"
        raise Rejected(f"only the operator holding the takeover may send ({holder})")
    _check_version(command.expected_control_version, session.control_version)
    if not session.window_open(context.now):
        raise Rejected(WINDOW_CLOSED)
    if context.lead is not None and forgotten_for(context.lead, session.last_inbound_at):
        raise Rejected("the contact's number was erased (FORGET_CONTACT); they must write again")
    outbound_id = outbound_id_for(context.command_id)
    claimed = OutboundClaimed(
        outbound_id=outbound_id, kind=OutboundKind.OPERATOR, text=command.text,
        sealed_text=command.sealed_text,
        to_hash=session.from_hash, control_version=session.control_version,
        global_version=context.system.control_version, by=context.requested_by,
    )  # fmt: skip
    emit = _emit(context, session_stream(session.session_id), claimed)
    return Applied(f"message {outbound_id} queued for sending", [emit])


def _add_note(command: AddNote, context: CommandContext) -> Applied:
    session = context.session
    if session is None:
        raise Rejected(f"no session {command.target_session_id!r}")
    note = NoteAdded(text=command.text, by=context.requested_by)
    return Applied("note added", [_emit(context, session_stream(session.session_id), note)])


def _forget(command: ForgetContact, context: CommandContext) -> Applied:
    """The vault entry is erased by the worker before this is recorded: an erase is
    idempotent, and the record must never claim an erase that did not happen."""
    session, lead = context.session, context.lead
    if session is None or lead is None:
        raise Rejected(f"no session {command.target_session_id!r}")
    by, reason = context.requested_by, command.reason
    emits = [
        _emit(context, lead_stream(lead.lead_id), LeadForgotten(by=by, reason=reason)),
        _emit(context, contact_stream(lead.from_hash), ContactForgotten(by=by, reason=reason)),
    ]
    return Applied("the contact's phone number is erased from the vault", emits)


_DECISIONS: dict[type, Callable[[Any, CommandContext], Applied]] = {
    TakeOver: _take_over,
    Release: _release,
    Close: _close,
    MarkReadyForHuman: _mark_ready,
    PauseAll: _pause_all,
    ResumeAll: _resume_all,
    SendMessage: _send_message,
    AddNote: _add_note,
    ForgetContact: _forget,
}
