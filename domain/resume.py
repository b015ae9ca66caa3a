"""RESUME_ALL and the customers who wrote while everything was paused.

A message recorded during a PAUSE_ALL is logged and left pending: the responder is not
called. With `answer_waiting`, RESUME_ALL gives each session still waiting one reply
for what it waited for; which sessions those are is decided here, from the session's
own stream and the pause as the `system` stream tells it. Whether the reply goes out
is still decided by the gate in the claim's transaction (`domain.reply`), so a
takeover that commits first wins over it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from contracts.envelope import EventEnvelope
from contracts.events import GlobalModeChanged
from contracts.vocabulary import GlobalMode
from domain.gate import closed_because
from domain.ids import outbound_id_for
from domain.lead import Lead, forgotten_for
from domain.session import Session
from domain.system import System


@dataclass(frozen=True)
class Pause:
    """One pause, by the event store's clock (`recorded_at`)."""

    began: datetime
    """When the PAUSE_ALL that began it was recorded."""
    resumed_under: int
    """The global control version the RESUME_ALL that ended it set."""


def pause_ended_by(system_events: Iterable[EventEnvelope], command_id: str) -> Pause | None:
    """The pause that the RESUME_ALL `command_id` ended; None when it ended none (the
    bot was running already)."""
    began: datetime | None = None
    for envelope in system_events:
        event = envelope.event()
        if not isinstance(event, GlobalModeChanged):
            continue
        if event.mode is GlobalMode.PAUSED_GLOBAL:
            began = envelope.recorded_at
        elif began is not None and envelope.correlation_id == command_id:
            return Pause(began, event.version)
        else:
            began = None
    return None


def resume_input_id(command_id: str, session_id: str) -> str:
    """What the reply RESUME_ALL `command_id` gives `session_id` derives its ids from: a
    redelivered RESUME_ALL drafts the same outbound, which the claim appends once."""
    return f"{command_id}:resume:{session_id}"


def waited_through(
    pause: Pause,
    command_id: str,
    system: System,
    session: Session,
    lead: Lead | None,
    now: datetime,
) -> bool:
    """The session's customer wrote during `pause` and nothing answered it since; this
    resume has not answered it already; and the gate would let the bot answer now
    (global and session control, not closed, no cooldown, 24-hour window open).

    A message recorded after the resume committed, still pending, counts too: its own
    handler and the resume may both draft for it, and the claim lets one through."""
    recorded = session.last_inbound_recorded_at
    if not session.pending or recorded is None or recorded < pause.began:
        return False
    if outbound_id_for(resume_input_id(command_id, session.session_id)) in session.drafted:
        return False
    if closed_because(system, session, session.control_version, now) is not None:
        return False
    return lead is not None and not forgotten_for(lead, session.last_inbound_at)
