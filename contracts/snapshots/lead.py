"""`leads/{lead_id}`: the consolidated commercial record operators and reports read."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import AwareDatetime

from contracts.frozen import Frozen
from contracts.vocabulary import (
    Confidence,
    ContactHash,
    EntityId,
    FieldSource,
    HandoffReason,
    LeadField,
    LeadStatus,
    Priority,
    ServiceInterest,
    WaMessageRef,
)


class LeadCollectedField(Frozen):
    """An applied value with its provenance: never a bare value, so the UI can tell a
    fact from an inference."""

    value: str
    source: FieldSource
    inferred: bool
    confidence: Confidence
    evidence_message_ref: WaMessageRef
    collected_at: AwareDatetime


class Lead(Frozen):
    """The contact is named only by `from_hash`; the encrypted number stays in the
    vault, where it can be rotated and shredded."""

    lead_id: EntityId
    from_hash: ContactHash
    status: LeadStatus
    service_interest: ServiceInterest | None = None
    """Mirrors `collected["service_interest"]`, typed, for filtering."""
    collected: Mapping[LeadField, LeadCollectedField] = {}
    priority: Priority | None = None
    handoff_reason: HandoffReason | None = None
    last_session_id: EntityId
    opened_at: AwareDatetime
    last_activity_at: AwareDatetime
    forgotten_at: AwareDatetime | None = None

    @property
    def confidence_fields(self) -> dict[LeadField, float]:
        """Confidence per collected field (the request's `confidence_fields`)."""
        return {name: field.confidence for name, field in self.collected.items()}
