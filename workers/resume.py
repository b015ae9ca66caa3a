"""RESUME_ALL's reply to the sessions that waited through the pause (`answer_waiting`).

The candidates come from the `sessions` snapshots changed since the pause began (an
indexed query, not a scan of the event store); each is then judged on its own stream
(`domain.resume`) and answered through the reply step's claim, whose gate decides: a
takeover that commits first wins. Every id derives from the command's and the
session's, so a redelivered RESUME_ALL drafts nothing twice; once every candidate is
done, `WaitingSessionsAnswered` on the command's stream records what was done, and a
delivery that finds it there does nothing more.

The snapshots lag the store by the projector's delay: a message recorded in the last
moment of the pause may not be among the candidates; it is answered when its customer
writes again.
"""

from __future__ import annotations

from datetime import UTC, timedelta

import structlog

from contracts.envelope import Actor, EventEnvelope
from contracts.events import WaitingSessionsAnswered
from contracts.ports.responder import ResponderFailed
from contracts.ports.snapshots import SnapshotStore, Where
from contracts.streams import SYSTEM_STREAM, command_stream, lead_stream, session_stream
from domain.decision import Emit
from domain.ids import outbound_id_for
from domain.lead import fold_lead
from domain.resume import Pause, pause_ended_by, resume_input_id, waited_through
from domain.session import fold_session
from domain.system import fold_system
from workers.appending import Cause, Reader, publish
from workers.replies import Replies
from workers.services import WorkerServices

log = structlog.get_logger(__name__)

SESSIONS = "sessions"
CLOCK_MARGIN = timedelta(minutes=5)
"""Snapshots are stamped by the snapshot store's clock, the pause by the event store's:
candidates are taken from a little before the pause, and judged on their streams."""
PAGE = 200


class WaitingAnswers:
    def __init__(self, services: WorkerServices, replies: Replies) -> None:
        self._services = services
        self._replies = replies

    def answer(self, command_id: str, requested: EventEnvelope) -> None:
        services = self._services
        stream = command_stream(command_id)
        if any(e.type == WaitingSessionsAnswered.TYPE for e in services.store.read(stream)):
            return  # done by an earlier delivery
        pause = pause_ended_by(services.store.read(SYSTEM_STREAM), command_id)
        snapshots = services.snapshots
        if pause is None or snapshots is None:
            return
        answered: list[str] = []
        suppressed: list[str] = []
        failed: list[str] = []
        for session_id in _touched_since(snapshots, pause):
            outcome = self._answer_one(command_id, requested, pause, session_id)
            if outcome == "OutboundClaimed":
                answered.append(session_id)
            elif outcome == "OutboundSuppressed":
                suppressed.append(session_id)
            elif outcome == "failed":
                failed.append(session_id)
        done = WaitingSessionsAnswered(
            answered=tuple(answered), suppressed=tuple(suppressed), failed=tuple(failed)
        )
        emit = Emit(stream, done, Actor.SYSTEM, services.clock())
        cause = Cause(f"{command_id}:waiting", command_id, requested.event_id)
        committed = services.store.transact(lambda tx: Reader(tx).append([emit], cause))
        publish(services.bus, committed.appended)
        log.info("waiting_sessions_answered", command_id=command_id, answered=len(answered),
                 suppressed=len(suppressed), failed=len(failed))  # fmt: skip

    def _answer_one(
        self, command_id: str, requested: EventEnvelope, pause: Pause, session_id: str
    ) -> str | None:
        store = self._services.store
        session = fold_session(store.read(session_stream(session_id)))
        if session is None:
            return None
        lead = fold_lead(store.read(lead_stream(session.lead_id)))
        system = fold_system(store.read(SYSTEM_STREAM))
        now = self._services.clock()
        if not waited_through(pause, command_id, system, session, lead, now):
            return None
        input_id = resume_input_id(command_id, session_id)
        cause = Cause(input_id, command_id, requested.event_id)
        try:
            return self._replies.answer_waiting(session, outbound_id_for(input_id), cause)
        except ResponderFailed:
            return "failed"


def _touched_since(snapshots: SnapshotStore, pause: Pause) -> list[str]:
    since = (pause.began - CLOCK_MARGIN).astimezone(UTC).isoformat(timespec="microseconds")
    where = [Where("updated_at", ">=", since)]
    found: list[str] = []
    cursor: str | None = None
    while True:
        page = snapshots.query(SESSIONS, where, order_by="updated_at", limit=PAGE, cursor=cursor)
        found += [document["id"] for document in page.documents if document["id"] not in found]
        if page.cursor is None:
            return found
        cursor = page.cursor
