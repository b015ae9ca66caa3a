"""The bot's reply: what the responder may read, and what its draft becomes.

The draft is recorded, then claimed or suppressed in the same transaction that
checks the gate (invariant 1): a takeover or a pause that committed first always
wins, a newer message in the burst supersedes it, and either way the record says
why. The lead fields it proposes pass the acceptance rule (invariant 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts.envelope import Actor
from contracts.events import (
    LeadFieldCollected,
    LeadMarkedReadyForHuman,
    LeadStatusChanged,
    OutboundClaimed,
    OutboundKind,
    OutboundSuppressed,
    ReplyDrafted,
    SuppressionReason,
)
from contracts.ports.responder import Conversation, Draft, FieldGuess
from contracts.streams import lead_stream, session_stream
from contracts.vocabulary import HandoffReason, LeadField, LeadStatus, Priority
from domain.decision import Emit
from domain.gate import closed_because
from domain.lead import Lead, forgotten_for, judge_field
from domain.policy import ConversationPolicy
from domain.session import Session
from domain.system import System

_HANDOFF_FROM = (LeadStatus.OPEN, LeadStatus.QUALIFYING)
_PRIORITY = {HandoffReason.USER_REQUESTED: Priority.HIGH}


def conversation_for(session: Session, lead: Lead) -> Conversation | None:
    """What the responder reads; None when nothing is waiting for an answer."""
    if not session.pending:
        return None
    return Conversation(
        lead_status=lead.status,
        collected=lead.values(),
        history=session.history,
        pending=session.pending,
    )


@dataclass(frozen=True)
class DraftMade:
    """A responder's draft and how it was made."""

    outbound_id: str
    control_version: int
    in_reply_to: tuple[str, ...]
    draft: Draft
    responder: str
    latency_ms: int


def decide_reply(
    system: System,
    session: Session,
    lead: Lead,
    made: DraftMade,
    now: datetime,
    policy: ConversationPolicy,
) -> list[Emit]:
    stream = session_stream(session.session_id)
    draft = made.draft
    drafted = ReplyDrafted(
        outbound_id=made.outbound_id, control_version=made.control_version,
        in_reply_to=made.in_reply_to, text=draft.text, intent=draft.intent,
        responder=made.responder, latency_ms=made.latency_ms, tokens=draft.tokens,
    )  # fmt: skip
    emits = [Emit(stream, drafted, Actor.LLM, now)]
    reason, detail = _suppression(system, session, made, now)
    if reason is None and forgotten_for(lead, session.last_inbound_at):
        reason, detail = SuppressionReason.CONTACT_FORGOTTEN, "the number was erased"
    if reason is None:
        claimed = OutboundClaimed(
            outbound_id=made.outbound_id, kind=OutboundKind.REPLY, text=draft.text,
            to_hash=session.from_hash, control_version=made.control_version,
            global_version=system.control_version,
        )  # fmt: skip
        emits.append(Emit(stream, claimed, Actor.LLM, now))
    else:
        suppressed = OutboundSuppressed(outbound_id=made.outbound_id, reason=reason, detail=detail)
        emits.append(Emit(stream, suppressed, Actor.SYSTEM, now))
    emits += _lead_updates(session, lead, made, replied=reason is None, now=now, policy=policy)
    return emits


def _suppression(
    system: System, session: Session, made: DraftMade, now: datetime
) -> tuple[SuppressionReason | None, str | None]:
    pending = session.pending_refs()
    newer = [ref for ref in pending if ref not in made.in_reply_to]
    if newer:
        return SuppressionReason.SUPERSEDED, f"{len(newer)} newer message(s) arrived"
    reason = closed_because(system, session, made.control_version, now)
    if reason is SuppressionReason.CONTROL_CHANGED:
        detail = f"drafted under v{made.control_version}, control at v{session.control_version}"
        return reason, detail
    if reason is None and not set(made.in_reply_to) & set(pending):
        return SuppressionReason.SUPERSEDED, "these messages were answered already"
    return reason, None


def _best_guesses(guesses: tuple[FieldGuess, ...]) -> list[FieldGuess]:
    best: dict[LeadField, FieldGuess] = {}
    for guess in guesses:
        held = best.get(guess.field)
        if held is None or guess.confidence > held.confidence:
            best[guess.field] = guess
    return list(best.values())


def _lead_updates(
    session: Session,
    lead: Lead,
    made: DraftMade,
    *,
    replied: bool,
    now: datetime,
    policy: ConversationPolicy,
) -> list[Emit]:
    stream = lead_stream(lead.lead_id)
    texts = {p.ref: p.text for p in session.pending if p.ref in made.in_reply_to}
    emits: list[Emit] = []
    collected = False
    for guess in _best_guesses(made.draft.fields):
        if guess.evidence_ref not in texts:
            continue  # evidence must be one of the messages this draft answers
        judged = judge_field(
            lead, guess, texts[guess.evidence_ref], policy.lead_confidence_threshold
        )
        if judged is not None:
            key = f"{judged.TYPE}:{guess.field.value}"
            emits.append(Emit(stream, judged, Actor.LLM, now, key))
            collected = collected or isinstance(judged, LeadFieldCollected)
    status = lead.status
    if status is LeadStatus.OPEN and (replied or collected):
        emits.append(
            _status_change(stream, status, LeadStatus.QUALIFYING, "the bot is qualifying", now)
        )
        status = LeadStatus.QUALIFYING
    handoff = made.draft.handoff
    if handoff is not None and status in _HANDOFF_FROM:
        marked = LeadMarkedReadyForHuman(
            session_id=session.session_id,
            priority=_PRIORITY.get(handoff.reason, Priority.NORMAL),
            handoff_reason=handoff.reason,
            detail=handoff.detail,
        )
        emits.append(Emit(stream, marked, Actor.LLM, now))
        reason = f"handoff: {handoff.reason.value}"
        emits.append(_status_change(stream, status, LeadStatus.READY_FOR_HUMAN, reason, now))
    return emits


def _status_change(
    stream: str, previous: LeadStatus, status: LeadStatus, reason: str, now: datetime
) -> Emit:
    changed = LeadStatusChanged(status=status, previous_status=previous, reason=reason)
    return Emit(stream, changed, Actor.SYSTEM, now, f"{changed.TYPE}:{status.value}")
