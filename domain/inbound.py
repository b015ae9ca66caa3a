"""Recording a customer's message: which session it belongs to (opening, expiring or
reopening one), the cooldown it may end or start, and the one warning a cooldown
sends. Whether a reply follows is decided later, after the burst is over
(`domain.reply`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.envelope import Actor
from contracts.events import (
    CooldownEnded,
    CooldownEscalated,
    CooldownStarted,
    FloodDetected,
    LeadOpened,
    LeadSessionStarted,
    LeadStatusChanged,
    MessageReceived,
    OutboundClaimed,
    OutboundKind,
    OutboundSuppressed,
    SessionExpired,
    SessionStarted,
)
from contracts.streams import lead_stream, session_stream
from contracts.vocabulary import LeadStatus, SessionMode
from domain.decision import Emit
from domain.flood import LEVEL_RANK, flood_score, mark
from domain.gate import closed_because
from domain.ids import cooldown_id_for, lead_id_for, outbound_id_for, session_id_for
from domain.lead import Lead
from domain.policy import ConversationPolicy
from domain.session import UNANSWERED_TYPES, Session
from domain.system import System

UNKNOWN_LINE = "unknown"
"""`business_number_id` of a session whose first message did not name the line."""

_REOPENED_STATUS = {LeadStatus.CLOSED: LeadStatus.OPEN, LeadStatus.IN_HUMAN: LeadStatus.QUALIFYING}
"""A new session puts the bot back in charge: a closed lead opens again, and one that
was with a human is qualifying again."""


@dataclass(frozen=True)
class Recorded:
    emits: list[Emit]
    session_id: str
    """The session the message was recorded in."""
    answerable: bool
    """The bot may answer it: the session is open to it, no cooldown, no pause."""


@dataclass(frozen=True)
class Inbound:
    """A customer's message as the worker received it."""

    input_id: str
    message: MessageReceived
    sent_at: datetime
    """WhatsApp's timestamp."""


def decide_inbound(
    lead: Lead | None,
    session: Session | None,
    system: System,
    inbound: Inbound,
    now: datetime,
    policy: ConversationPolicy,
) -> Recorded:
    """`session` is the lead's current session, if any."""
    message = inbound.message
    opening = Opening(inbound.input_id, message.from_hash, message.business_number_id)
    target, emits = session_for(lead, session, opening, inbound.sent_at, now, policy)
    stream = session_stream(target.session_id)
    if target.cooldown is not None and now >= target.cooldown.until:
        ended = CooldownEnded(cooldown_id=target.cooldown.cooldown_id)
        emits.append(Emit(stream, ended, Actor.SYSTEM, now))
        target = target.model_copy(update={"cooldown": None})
    emits.append(Emit(stream, inbound.message, Actor.USER, inbound.sent_at))
    if target.closed:
        return Recorded(emits, target.session_id, answerable=False)  # reopening is blocked
    if target.in_cooldown(now):
        escalated = _escalation(target, inbound, now, policy)
        return Recorded(emits + escalated, target.session_id, answerable=False)
    if target.cooled_until is not None and inbound.sent_at < target.cooled_until:
        # written during the last cooldown, delivered after it (a retry): part of that flood
        return Recorded(emits, target.session_id, answerable=False)
    flood = _flood(system, target, inbound, now, policy)
    if flood:
        return Recorded(emits + flood, target.session_id, answerable=False)
    answerable = (
        not system.paused
        and target.mode is SessionMode.LLM_ACTIVE
        and inbound.message.type not in UNANSWERED_TYPES
    )
    return Recorded(emits, target.session_id, answerable)


@dataclass(frozen=True)
class Opening:
    """The input that may open a session, and for whom."""

    input_id: str
    from_hash: str
    business_number_id: str | None


def session_for(
    lead: Lead | None,
    session: Session | None,
    opening: Opening,
    sent_at: datetime,
    now: datetime,
    policy: ConversationPolicy,
) -> tuple[Session, list[Emit]]:
    """The session an input written at `sent_at` belongs to: the lead's current one, or
    a new one (the current one expired first, if it was still open)."""
    if not _opens_new_session(session, sent_at, policy.session_ttl):
        assert session is not None
        return session, []
    emits: list[Emit] = []
    if session is not None and not session.ended:
        expired = SessionExpired(last_activity_at=session.last_activity_at)
        emits.append(Emit(session_stream(session.session_id), expired, Actor.SYSTEM, now))
    target, opened = _new_session(lead, session, opening, now, policy)
    return target, emits + opened


def _opens_new_session(session: Session | None, sent_at: datetime, ttl: timedelta) -> bool:
    if session is None or session.expired:
        return True
    if session.closed:
        blocked_until = session.reopen_blocked_until
        return blocked_until is None or sent_at >= blocked_until
    return sent_at - session.last_activity_at >= ttl


def _new_session(
    lead: Lead | None,
    previous: Session | None,
    opening: Opening,
    now: datetime,
    policy: ConversationPolicy,
) -> tuple[Session, list[Emit]]:
    from_hash = opening.from_hash
    lead_id = lead.lead_id if lead else lead_id_for(from_hash)
    session_id = session_id_for(opening.input_id)
    earlier = previous.cooldown_starts if previous else ()
    since = now - timedelta(hours=policy.flood.repeat_window_hours)
    carried = tuple(started for started in earlier if started > since)
    line = opening.business_number_id or UNKNOWN_LINE
    started = SessionStarted(
        lead_id=lead_id, from_hash=from_hash, business_number_id=line,
        recent_cooldowns=carried,
    )  # fmt: skip
    emits = [Emit(session_stream(session_id), started, Actor.SYSTEM, now)]
    stream = lead_stream(lead_id)
    if lead is None:
        opened = LeadOpened(from_hash=from_hash, session_id=session_id)
        emits.append(Emit(stream, opened, Actor.SYSTEM, now))
    else:
        emits.append(Emit(stream, LeadSessionStarted(session_id=session_id), Actor.SYSTEM, now))
        reopened = _REOPENED_STATUS.get(lead.status)
        if reopened is not None:
            changed = LeadStatusChanged(
                status=reopened, previous_status=lead.status, reason="a new session started"
            )
            emits.append(Emit(stream, changed, Actor.SYSTEM, now))
    session = Session(
        session_id=session_id, lead_id=lead_id, from_hash=from_hash,
        business_number_id=line, started_at=now, last_activity_at=now,
        cooldown_starts=carried,
    )  # fmt: skip
    return session, emits


def _escalation(
    session: Session, inbound: Inbound, now: datetime, policy: ConversationPolicy
) -> list[Emit]:
    """A flood that goes on through its cooldown and crosses a higher level lengthens
    the cooldown to that level's, from the cooldown's start; it sends no second
    warning."""
    cooldown = session.cooldown
    assert cooldown is not None
    marks = (*session.marks, mark(inbound.sent_at, inbound.message.body_sanitized))
    window = policy.flood.window_seconds
    score = flood_score(marks, inbound.sent_at, window)
    level = policy.flood.level(score.score)
    if level is None or LEVEL_RANK[level] <= LEVEL_RANK[cooldown.level]:
        return []
    minutes = policy.flood.cooldown_minutes(level, cooldown.repeat)
    stream = session_stream(session.session_id)
    detected = FloodDetected(
        level=level, score=score.score, messages_in_window=score.messages, window_seconds=window
    )
    escalated = CooldownEscalated(
        cooldown_id=cooldown.cooldown_id, level=level, duration_minutes=minutes,
        until=cooldown.started_at + timedelta(minutes=minutes),
    )  # fmt: skip
    return [
        Emit(stream, detected, Actor.SYSTEM, now),
        Emit(stream, escalated, Actor.SYSTEM, now),
    ]


def _flood(
    system: System, session: Session, inbound: Inbound, now: datetime, policy: ConversationPolicy
) -> list[Emit]:
    """A flood's detection, its cooldown and the cooldown's one warning; nothing when
    the score stays under every level."""
    marks = (*session.marks, mark(inbound.sent_at, inbound.message.body_sanitized))
    window = policy.flood.window_seconds
    score = flood_score(marks, inbound.sent_at, window)
    level = policy.flood.level(score.score)
    if level is None:
        return []
    stream = session_stream(session.session_id)
    repeat = policy.flood.repeats(session.cooldown_starts, now)
    minutes = policy.flood.cooldown_minutes(level, repeat)
    cooldown_id = cooldown_id_for(inbound.input_id)
    detected = FloodDetected(
        level=level, score=score.score, messages_in_window=score.messages, window_seconds=window
    )
    started = CooldownStarted(
        cooldown_id=cooldown_id, level=level, duration_minutes=minutes, repeat=repeat,
        until=now + timedelta(minutes=minutes),
    )  # fmt: skip
    emits = [
        Emit(stream, detected, Actor.SYSTEM, now),
        Emit(stream, started, Actor.SYSTEM, now),
    ]
    heard = session.model_copy(
        update={"last_inbound_at": max(session.last_inbound_at or inbound.sent_at, inbound.sent_at)}
    )
    outbound_id = outbound_id_for(cooldown_id)
    reason = closed_because(system, heard, session.control_version, now, in_cooldown_allowed=True)
    if reason is None:
        warning = OutboundClaimed(
            outbound_id=outbound_id, kind=OutboundKind.FLOOD_WARNING,
            text=policy.warning(minutes), to_hash=session.from_hash,
            control_version=session.control_version, global_version=system.control_version,
        )  # fmt: skip
        emits.append(Emit(stream, warning, Actor.SYSTEM, now))
    else:
        suppressed = OutboundSuppressed(
            outbound_id=outbound_id, reason=reason, detail="the flood warning"
        )
        emits.append(Emit(stream, suppressed, Actor.SYSTEM, now))
    return emits
