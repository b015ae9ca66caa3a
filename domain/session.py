"""A session as its stream tells it: `evolve(state, event) -> state`, folded the same
way for live processing, replay and tests.

This is the state decisions need (who may speak, what is unanswered, which outbound
is where, the recent inbound marks the flood score reads), not the snapshot operators
read: that one is built by the projections.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from contracts.envelope import Actor, Event, EventEnvelope
from contracts.events import (
    ControlChanged,
    CooldownEnded,
    CooldownEscalated,
    CooldownStarted,
    MessageEchoed,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    MessageStatusUpdated,
    NoteAdded,
    OutboundClaimed,
    OutboundFailed,
    OutboundKind,
    OutboundOutcomeUnknown,
    OutboundSendStarted,
    OutboundSent,
    OutboundSuppressed,
    ReplyDrafted,
    ReplyDraftFailed,
    SessionClosed,
    SessionExpired,
    SessionStarted,
    SuppressionReason,
)
from contracts.frozen import Frozen
from contracts.ports.responder import Pending, Turn
from contracts.vocabulary import (
    CUSTOMER_WINDOW,
    FloodLevel,
    MessageStatus,
    MessageType,
    SessionMode,
)
from domain.flood import InboundMark, mark

UNANSWERED_TYPES = frozenset({MessageType.REACTION, MessageType.SYSTEM})
"""Messages that call for no reply: a reaction, WhatsApp's notice of a changed number."""
HISTORY_TURNS = 20
"""How much of the conversation a responder is shown."""
RECENT_MARKS = 200
"""Inbound marks kept for the flood score: more than any window's worth that matters."""


class Outbound(Frozen):
    outbound_id: str
    kind: OutboundKind
    control_version: int
    """The session's control version it was claimed under."""
    status: MessageStatus = MessageStatus.PENDING
    started_at: datetime | None = None
    """When `OutboundSendStarted` was recorded: the API may have been called since."""
    suppressed: bool = False
    """Claimed, then stopped by the gate before its send started."""
    wa_message_ref: str | None = None

    @property
    def settled(self) -> bool:
        """Nothing more will happen to it: sent, failed, unknown, or suppressed."""
        return self.suppressed or self.status is not MessageStatus.PENDING


class Cooldown(Frozen):
    cooldown_id: str
    level: FloodLevel
    until: datetime
    started_at: datetime
    repeat: int


class Session(Frozen):
    session_id: str
    lead_id: str
    from_hash: str
    business_number_id: str
    started_at: datetime
    version: int = 0
    """The last stream version folded in."""
    mode: SessionMode = SessionMode.LLM_ACTIVE
    assignee: str | None = None
    control_version: int = 0
    closed_at: datetime | None = None
    reopen_blocked_until: datetime | None = None
    expired: bool = False
    cooldown: Cooldown | None = None
    cooldown_starts: tuple[datetime, ...] = ()
    cooled_until: datetime | None = None
    """When the latest cooldown ended or ends: a message written before then (by
    WhatsApp's clock) belongs to that flood, even if it is delivered after."""
    marks: tuple[InboundMark, ...] = ()
    last_inbound_at: datetime | None = None
    """WhatsApp's timestamp of the customer's latest message: the 24-hour window."""
    last_activity_at: datetime
    """The latest message either way: the inactivity TTL."""
    last_inbound_recorded_at: datetime | None = None
    """When the latest inbound message was recorded here: the reply debounce."""
    last_inbound_ref: str | None = None
    pending: tuple[Pending, ...] = ()
    """Customer messages not yet answered nor set aside, oldest first."""
    history: tuple[Turn, ...] = ()
    drafted: frozenset[str] = frozenset()
    """Outbound ids that have a `ReplyDrafted`."""
    outbounds: Mapping[str, Outbound] = {}
    inbound_count: int = 0
    outbound_count: int = 0
    last_draft_failure: str | None = None

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    @property
    def ended(self) -> bool:
        return self.closed or self.expired

    def in_cooldown(self, now: datetime) -> bool:
        return self.cooldown is not None and now < self.cooldown.until

    def window_open(self, now: datetime) -> bool:
        return self.last_inbound_at is not None and now < self.last_inbound_at + CUSTOMER_WINDOW

    def pending_refs(self) -> tuple[str, ...]:
        return tuple(p.ref for p in self.pending)


def _started(event: SessionStarted, envelope: EventEnvelope) -> Session:
    return Session(
        session_id=envelope.stream_id.removeprefix("session-"),
        lead_id=event.lead_id,
        from_hash=event.from_hash,
        business_number_id=event.business_number_id,
        started_at=envelope.occurred_at,
        last_activity_at=envelope.occurred_at,
        cooldown_starts=event.recent_cooldowns,
    )


def _with_turns(history: tuple[Turn, ...], *turns: Turn) -> tuple[Turn, ...]:
    return (*history, *turns)[-HISTORY_TURNS:]


def _received(session: Session, event: MessageReceived, envelope: EventEnvelope) -> Session:
    at = envelope.occurred_at
    text = event.body_sanitized
    pending = Pending(
        ref=event.wa_message_ref,
        type=event.type,
        text=text,
        reply_id=event.interactive.reply_id if event.interactive else None,
    )
    latest = session.last_inbound_at
    changes: dict[str, Any] = {
        "marks": (*session.marks, mark(at, text))[-RECENT_MARKS:],
        "last_inbound_at": at if latest is None or at > latest else latest,
        "last_activity_at": max(session.last_activity_at, at),
        "last_inbound_recorded_at": envelope.recorded_at,
        "last_inbound_ref": event.wa_message_ref,
        "inbound_count": session.inbound_count + 1,
    }
    during_a_flood = session.cooldown is not None or (
        session.cooled_until is not None and at < session.cooled_until
    )
    set_aside = during_a_flood or session.ended  # logged, never answered
    if event.type in UNANSWERED_TYPES or set_aside:  # straight into the history
        changes["history"] = _with_turns(session.history, _shown(pending))
    else:
        changes["pending"] = (*session.pending, pending)
    return session.model_copy(update=changes)


def _revoked(session: Session, event: MessageRevoked, _: EventEnvelope) -> Session:
    """A deleted message is not answered."""
    pending = tuple(p for p in session.pending if p.ref != event.original_ref)
    return session.model_copy(update={"pending": pending})


def _edited(session: Session, event: MessageEdited, _: EventEnvelope) -> Session:
    """An edited message still unanswered is answered as it now reads."""
    pending = tuple(
        p.model_copy(update={"text": event.body_sanitized}) if p.ref == event.original_ref else p
        for p in session.pending
    )
    return session.model_copy(update={"pending": pending})


def _echoed(session: Session, event: MessageEchoed, envelope: EventEnvelope) -> Session:
    """A person's message from the WhatsApp Business app answers what was pending; it
    is sent already, and its statuses move it like one of ours."""
    turn = Turn(actor=Actor.HUMAN, text=event.body_sanitized or f"[{event.type.value}]")
    echoed = Outbound(
        outbound_id=event.outbound_id, kind=OutboundKind.APP,
        control_version=session.control_version, status=MessageStatus.SENT,
        wa_message_ref=event.wa_message_ref,
    )  # fmt: skip
    return session.model_copy(
        update={
            **_settled(session, turn),
            "last_activity_at": max(session.last_activity_at, envelope.occurred_at),
            "outbounds": {**session.outbounds, echoed.outbound_id: echoed},
        }
    )


def _shown(message: Pending) -> Turn:
    return Turn(actor=Actor.USER, text=message.text or f"[{message.type.value}]")


def _settled(session: Session, *then: Turn) -> dict[str, Any]:
    """The pending messages move into the history (followed by `then`): answered, or
    set aside."""
    shown = [_shown(message) for message in session.pending]
    return {"pending": (), "history": _with_turns(session.history, *shown, *then)}


def _control(session: Session, event: ControlChanged, _: EventEnvelope) -> Session:
    """A change of control sets aside what was pending: those messages were for
    whoever held the conversation then."""
    return session.model_copy(
        update={
            "mode": event.mode,
            "assignee": event.human_assignee,
            "control_version": event.version,
            **_settled(session),
        }
    )


def _drafted(session: Session, event: ReplyDrafted, _: EventEnvelope) -> Session:
    return session.model_copy(
        update={"drafted": session.drafted | {event.outbound_id}, "last_draft_failure": None}
    )


def _draft_failed(session: Session, event: ReplyDraftFailed, _: EventEnvelope) -> Session:
    return session.model_copy(update={"last_draft_failure": event.error})


_ACTOR_OF = {
    OutboundKind.REPLY: Actor.LLM,
    OutboundKind.FLOOD_WARNING: Actor.SYSTEM,
    OutboundKind.OPERATOR: Actor.HUMAN,
}


def _claimed(session: Session, event: OutboundClaimed, envelope: EventEnvelope) -> Session:
    outbound = Outbound(
        outbound_id=event.outbound_id, kind=event.kind, control_version=event.control_version
    )
    turn = Turn(actor=_ACTOR_OF[event.kind], text=event.text)
    if event.kind is OutboundKind.REPLY:
        conversation = _settled(session, turn)
    else:
        conversation = {"history": _with_turns(session.history, turn)}
    return session.model_copy(
        update={
            "outbounds": {**session.outbounds, event.outbound_id: outbound},
            **conversation,
            "outbound_count": session.outbound_count + 1,
            "last_activity_at": max(session.last_activity_at, envelope.occurred_at),
        }
    )


def _suppressed(session: Session, event: OutboundSuppressed, _: EventEnvelope) -> Session:
    """A superseded draft leaves its messages pending for the draft that covers the
    whole burst; any other suppression sets them aside."""
    if event.outbound_id in session.outbounds:  # claimed, then stopped before its send
        return _updated_outbound(session, event.outbound_id, suppressed=True)
    if event.reason is SuppressionReason.SUPERSEDED:
        return session
    return session.model_copy(update=_settled(session))


def _updated_outbound(session: Session, outbound_id: str, **changes: Any) -> Session:
    outbound = session.outbounds.get(outbound_id)
    if outbound is None:
        return session
    updated = outbound.model_copy(update=changes)
    return session.model_copy(update={"outbounds": {**session.outbounds, outbound_id: updated}})


def _send_started(session: Session, event: OutboundSendStarted, envelope: EventEnvelope) -> Session:
    return _updated_outbound(session, event.outbound_id, started_at=envelope.occurred_at)


def _sent(session: Session, event: OutboundSent, _: EventEnvelope) -> Session:
    return _updated_outbound(
        session, event.outbound_id, status=MessageStatus.SENT, wa_message_ref=event.wa_message_ref
    )


def _failed(session: Session, event: OutboundFailed, _: EventEnvelope) -> Session:
    return _updated_outbound(session, event.outbound_id, status=MessageStatus.FAILED)


def _unknown(session: Session, event: OutboundOutcomeUnknown, _: EventEnvelope) -> Session:
    return _updated_outbound(session, event.outbound_id, status=MessageStatus.UNKNOWN)


def _status(session: Session, event: MessageStatusUpdated, _: EventEnvelope) -> Session:
    return _updated_outbound(session, event.outbound_id, status=event.status)


def _cooldown_started(session: Session, event: CooldownStarted, envelope: EventEnvelope) -> Session:
    cooldown = Cooldown(
        cooldown_id=event.cooldown_id, level=event.level, until=event.until,
        started_at=envelope.occurred_at, repeat=event.repeat,
    )  # fmt: skip
    return session.model_copy(
        update={
            "cooldown": cooldown,
            "cooled_until": event.until,
            "cooldown_starts": (*session.cooldown_starts, envelope.occurred_at),
            **_settled(session),
        }
    )


def _cooldown_escalated(session: Session, event: CooldownEscalated, _: EventEnvelope) -> Session:
    if session.cooldown is None or session.cooldown.cooldown_id != event.cooldown_id:
        return session
    escalated = session.cooldown.model_copy(update={"level": event.level, "until": event.until})
    return session.model_copy(update={"cooldown": escalated, "cooled_until": event.until})


def _cooldown_ended(session: Session, event: CooldownEnded, _: EventEnvelope) -> Session:
    if session.cooldown is None or session.cooldown.cooldown_id != event.cooldown_id:
        return session
    return session.model_copy(update={"cooldown": None})


def _closed(session: Session, event: SessionClosed, envelope: EventEnvelope) -> Session:
    return session.model_copy(
        update={
            "closed_at": envelope.occurred_at,
            "reopen_blocked_until": event.reopen_blocked_until,
            **_settled(session),
        }
    )


def _expired(session: Session, _: SessionExpired, __: EventEnvelope) -> Session:
    return session.model_copy(update={"expired": True, **_settled(session)})


def _noted(session: Session, _: NoteAdded, __: EventEnvelope) -> Session:
    return session


Evolver = Callable[[Session, Any, EventEnvelope], Session]
_EVOLVERS: dict[type[Event], Evolver] = {
    MessageReceived: _received,
    MessageRevoked: _revoked,
    MessageEdited: _edited,
    MessageEchoed: _echoed,
    ControlChanged: _control,
    ReplyDrafted: _drafted,
    ReplyDraftFailed: _draft_failed,
    OutboundClaimed: _claimed,
    OutboundSuppressed: _suppressed,
    OutboundSendStarted: _send_started,
    OutboundSent: _sent,
    OutboundFailed: _failed,
    OutboundOutcomeUnknown: _unknown,
    MessageStatusUpdated: _status,
    CooldownStarted: _cooldown_started,
    CooldownEscalated: _cooldown_escalated,
    CooldownEnded: _cooldown_ended,
    SessionClosed: _closed,
    SessionExpired: _expired,
    NoteAdded: _noted,
}


def evolve(session: Session | None, envelope: EventEnvelope) -> Session | None:
    """The session after `envelope`. Events this state does not need leave it as is."""
    folded = _apply(session, envelope)
    return None if folded is None else folded.model_copy(update={"version": envelope.version})


def fold_session(events: Iterable[EventEnvelope]) -> Session | None:
    """Every event applied, the version set once at the end: one copy of the session
    per event, not two."""
    session: Session | None = None
    version = 0
    for envelope in events:
        session, version = _apply(session, envelope), envelope.version
    return None if session is None else session.model_copy(update={"version": version})


def _apply(session: Session | None, envelope: EventEnvelope) -> Session | None:
    event = envelope.event()
    if isinstance(event, SessionStarted):
        return _started(event, envelope)
    if session is None:
        return None
    evolver = _EVOLVERS.get(type(event))
    return evolver(session, event, envelope) if evolver else session
