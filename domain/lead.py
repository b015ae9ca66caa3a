"""A lead as its stream tells it, and the rule that keeps inference from becoming fact
(invariant 5).

A value is applied only when its confidence reaches the threshold. It counts as
stated by the user (source USER, not inferred) only when it appears word for word in
the customer's message it cites; anything else the responder read between the lines
is an inference (source LLM). A value the user stated is not overwritten by an
inference. Every value proposed is recorded, applied or rejected, with its evidence.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from datetime import datetime

from contracts.envelope import EventEnvelope
from contracts.events import (
    FieldRejectionReason,
    LeadFieldCollected,
    LeadFieldRejected,
    LeadForgotten,
    LeadMarkedReadyForHuman,
    LeadOpened,
    LeadSessionStarted,
    LeadStatusChanged,
)
from contracts.frozen import Frozen
from contracts.ports.responder import FieldGuess
from contracts.vocabulary import (
    FieldSource,
    HandoffReason,
    LeadField,
    LeadStatus,
    Priority,
    ServiceInterest,
)


class Collected(Frozen):
    value: str
    source: FieldSource
    confidence: float
    evidence_ref: str


class Lead(Frozen):
    lead_id: str
    from_hash: str
    status: LeadStatus = LeadStatus.OPEN
    session_id: str
    """The contact's current (latest) session."""
    version: int = 0
    collected: Mapping[LeadField, Collected] = {}
    priority: Priority | None = None
    handoff_reason: HandoffReason | None = None
    forgotten_at: datetime | None = None

    def values(self) -> dict[LeadField, str]:
        return {name: field.value for name, field in self.collected.items()}


def evolve_lead(lead: Lead | None, envelope: EventEnvelope) -> Lead | None:
    folded = _apply(lead, envelope)
    return None if folded is None else folded.model_copy(update={"version": envelope.version})


def _apply(lead: Lead | None, envelope: EventEnvelope) -> Lead | None:
    event = envelope.event()
    if isinstance(event, LeadOpened):
        lead = Lead(
            lead_id=envelope.stream_id.removeprefix("lead-"),
            from_hash=event.from_hash,
            session_id=event.session_id,
        )
    elif lead is None:
        return None
    elif isinstance(event, LeadSessionStarted):
        lead = lead.model_copy(update={"session_id": event.session_id})
    elif isinstance(event, LeadStatusChanged):
        lead = lead.model_copy(update={"status": event.status})
    elif isinstance(event, LeadFieldCollected):
        collected = Collected(
            value=event.value,
            source=event.source,
            confidence=event.confidence,
            evidence_ref=event.evidence_message_ref,
        )
        lead = lead.model_copy(update={"collected": {**lead.collected, event.field: collected}})
    elif isinstance(event, LeadMarkedReadyForHuman):
        lead = lead.model_copy(
            update={"priority": event.priority, "handoff_reason": event.handoff_reason}
        )
    elif isinstance(event, LeadForgotten):
        lead = lead.model_copy(update={"forgotten_at": envelope.occurred_at})
    return lead


def forgotten_for(lead: Lead, last_inbound_at: datetime | None) -> bool:
    """The contact's number was erased (FORGET_CONTACT) and they have not written since:
    there is no one to send to. A message after the erase puts the number back."""
    if lead.forgotten_at is None:
        return False
    return last_inbound_at is None or last_inbound_at <= lead.forgotten_at


def fold_lead(events: Iterable[EventEnvelope]) -> Lead | None:
    lead: Lead | None = None
    version = 0
    for envelope in events:
        lead, version = _apply(lead, envelope), envelope.version
    return None if lead is None else lead.model_copy(update={"version": version})


def _plain(text: str) -> str:
    """Case, accents, punctuation and spacing do not make a value another value."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^\w]+", " ", letters).split())


def stated_in(value: str, message_text: str | None) -> bool:
    """Whether `value` appears word for word in the message."""
    wanted = _plain(value)
    return bool(wanted) and f" {wanted} " in f" {_plain(message_text or '')} "


FieldDecision = LeadFieldCollected | LeadFieldRejected


def judge_field(
    lead: Lead, guess: FieldGuess, evidence_text: str | None, threshold: float
) -> FieldDecision | None:
    """The event recording `guess`, or None when it changes nothing (the lead already
    holds that value from a source at least as strong) or cannot be recorded (a service
    interest outside the catalogue)."""
    if guess.field is LeadField.SERVICE_INTEREST and guess.value not in set(ServiceInterest):
        return None
    stated = stated_in(guess.value, evidence_text)
    source = FieldSource.USER if stated else FieldSource.LLM
    evidence = {
        "field": guess.field,
        "value": guess.value,
        "source": source,
        "inferred": not stated,
        "confidence": guess.confidence,
        "evidence_message_ref": guess.evidence_ref,
    }
    held = lead.collected.get(guess.field)
    same_value = held is not None and _plain(held.value) == _plain(guess.value)
    if held is not None and same_value and (held.source is FieldSource.USER or not stated):
        return None
    if guess.confidence < threshold:
        return LeadFieldRejected(
            **evidence, threshold=threshold, reason=FieldRejectionReason.BELOW_THRESHOLD
        )
    if held is not None and held.source is FieldSource.USER and not stated:
        return LeadFieldRejected(
            **evidence, threshold=threshold, reason=FieldRejectionReason.USER_VALUE_KEPT
        )
    return LeadFieldCollected(**evidence)
