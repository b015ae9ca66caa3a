"""`sessions/{session_id}` and `session_controls/{session_id}`.

A session document also carries its lead's status (`lead_status`, `ready_for_human`,
`priority`), merged in from the lead's stream, so that operators can list the sessions
waiting for a human without a join.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from contracts.events import (
    ControlChanged,
    CooldownEnded,
    CooldownEscalated,
    CooldownStarted,
    FloodDetected,
    LeadMarkedReadyForHuman,
    LeadOpened,
    LeadSessionStarted,
    LeadStatusChanged,
    MessageEchoed,
    MessageReceived,
    OutboundClaimed,
    OutboundOutcomeUnknown,
    ReplyDrafted,
    ReplyDraftFailed,
    SessionClosed,
    SessionExpired,
    SessionStarted,
)
from contracts.ports.snapshots import Document, Put, Write
from contracts.snapshots.session import SessionControl, SessionState
from contracts.streams import StreamKind, stream_kind
from contracts.vocabulary import CUSTOMER_WINDOW, LeadStatus, SessionStatus
from projections.inbox import inbox_changes, sort_keys
from projections.projection import Recorded, changed_at

SESSIONS = "sessions"
CONTROLS = "session_controls"


class SessionsProjection:
    name = "sessions"
    collections = (SESSIONS, CONTROLS)

    def handles(self, stream_id: str) -> bool:
        return stream_kind(stream_id) in (StreamKind.SESSION, StreamKind.LEAD)

    def fold(self, state: Document, events: Sequence[Recorded]) -> tuple[Document, list[Write]]:
        if stream_kind(events[0].envelope.stream_id) == StreamKind.LEAD:
            return _fold_lead(state, events)
        return _fold_session(state, events)


# --- a session's stream ------------------------------------------------------------------


def _fold_session(state: Document, events: Sequence[Recorded]) -> tuple[Document, list[Write]]:
    session: SessionState | None = None
    control: SessionControl | None = None
    extra: dict[str, Any] = {}
    memo: dict[str, Any] = {}
    if state:
        session = SessionState.model_validate(state["session"])
        control = SessionControl.model_validate(state["control"])
        extra = dict(state["extra"])
        memo = state.get("inbox", {})
    for recorded in events:
        event, at = recorded.event, recorded.envelope.occurred_at
        if session is not None:
            inbox, memo = inbox_changes(session, event, at, memo)
            session = session.model_copy(update=inbox)
        if isinstance(event, SessionStarted):
            session_id = recorded.envelope.stream_id.removeprefix("session-")
            session = SessionState(
                session_id=session_id, lead_id=event.lead_id, from_hash=event.from_hash,
                state=SessionStatus.ACTIVE, started_at=at,
            )  # fmt: skip
            control = SessionControl(session_id=session_id)
            extra = {"unknown_outbounds": 0, "last_draft_failure": None}
        elif session is not None and control is not None:
            session, control = _evolved(session, control, extra, event, at)
    if session is None or control is None:
        return state, []  # a stream that did not start with SessionStarted: nothing to show
    new_state = {
        "session": session.model_dump(mode="json"),
        "control": control.model_dump(mode="json"),
        "extra": extra,
    }
    document = {
        **new_state["session"],
        **extra,
        **sort_keys(session),
        "mode": control.mode.value,
        "human_assignee": control.human_assignee,
        "control_version": control.version,
        "updated_at": changed_at(events[-1]),
    }
    writes: list[Write] = [
        Put(SESSIONS, session.session_id, document, merge=True),
        # the control's updated_at: when it last changed (None before a change)
        Put(CONTROLS, session.session_id, new_state["control"]),
    ]
    return {**new_state, "inbox": memo}, writes


def _evolved(
    session: SessionState,
    control: SessionControl,
    extra: dict[str, Any],
    event: object,
    at: datetime,
) -> tuple[SessionState, SessionControl]:
    changes: dict[str, Any] = {}
    if isinstance(event, MessageReceived):
        last = session.last_inbound_at
        latest = at if last is None or at > last else last
        changes = {
            "last_inbound_at": latest,
            "window_expires_at": latest + CUSTOMER_WINDOW,
            "inbound_count": session.inbound_count + 1,
        }
    elif isinstance(event, (OutboundClaimed, MessageEchoed)):  # an echo: sent from the app
        changes = {"last_outbound_at": at, "outbound_count": session.outbound_count + 1}
    elif isinstance(event, ControlChanged):
        control = control.model_copy(
            update={
                "mode": event.mode,
                "human_assignee": event.human_assignee,
                "reason": event.reason,
                "updated_at": at,
                "version": event.version,
            }
        )
    elif isinstance(event, FloodDetected):
        changes = {"flood_level": event.level}
    elif isinstance(event, CooldownStarted):
        changes = {"state": SessionStatus.COOLDOWN_ACTIVE, "cooldown_until": event.until,
                   "flood_level": event.level}  # fmt: skip
    elif isinstance(event, CooldownEscalated):
        changes = {"cooldown_until": event.until, "flood_level": event.level}
    elif isinstance(event, CooldownEnded) and session.state is SessionStatus.COOLDOWN_ACTIVE:
        changes = {"state": SessionStatus.ACTIVE, "cooldown_until": None}
    elif isinstance(event, SessionClosed):
        changes = {
            "state": SessionStatus.CLOSED, "outcome": event.outcome, "closing_note": event.note,
            "reopen_blocked_until": event.reopen_blocked_until, "closed_at": at,
            "cooldown_until": None,
        }  # fmt: skip
    elif isinstance(event, SessionExpired):
        changes = {"state": SessionStatus.EXPIRED, "closed_at": at, "cooldown_until": None}
    elif isinstance(event, ReplyDraftFailed):
        extra["last_draft_failure"] = event.error
    elif isinstance(event, ReplyDrafted):
        extra["last_draft_failure"] = None
    elif isinstance(event, OutboundOutcomeUnknown):
        extra["unknown_outbounds"] += 1
    if changes:
        session = session.model_copy(update=changes)
    return session, control


# --- a lead's stream: its status, merged into its current session ----------------------


def _fold_lead(state: Document, events: Sequence[Recorded]) -> tuple[Document, list[Write]]:
    """Each session gets the lead's status as it was while it was the current one: a
    session gone by keeps the status of its time. No `updated_at`: the session's own
    events set it, and a field two streams wrote would depend on which came last."""
    state = dict(state)
    touched: dict[str, dict[str, Any]] = {}
    for recorded in events:
        event = recorded.event
        if isinstance(event, LeadOpened):
            state.update(session_id=event.session_id, status=LeadStatus.OPEN.value, priority=None)
        elif isinstance(event, LeadSessionStarted):
            state["session_id"] = event.session_id
        elif isinstance(event, LeadStatusChanged):
            state["status"] = event.status.value
        elif isinstance(event, LeadMarkedReadyForHuman):
            state["priority"] = event.priority.value
        else:
            continue
        if "session_id" in state:
            touched[state["session_id"]] = {
                "lead_status": state["status"],
                "ready_for_human": state["status"] == LeadStatus.READY_FOR_HUMAN.value,
                "priority": state["priority"],
            }
    return state, [
        Put(SESSIONS, session_id, fields, merge=True) for session_id, fields in touched.items()
    ]
