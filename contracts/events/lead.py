"""A lead: the contact's commercial record across sessions. Stream `lead-<lead_id>`.

Status changes only through `LeadStatusChanged`; the other events record why, so a
projection folds one event type for status and never infers it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import StringConstraints, model_validator

from contracts.envelope import Event
from contracts.upcasting import Payload, upcaster
from contracts.vocabulary import (
    Confidence,
    ContactHash,
    Diagnostic,
    EntityId,
    FieldSource,
    HandoffReason,
    LeadField,
    LeadStatus,
    OperatorId,
    Priority,
    Reason,
    ServiceInterest,
    WaMessageRef,
)

FieldValue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class LeadOpened(Event):
    TYPE = "LeadOpened"

    from_hash: ContactHash
    session_id: EntityId
    """The session whose first message opened the lead."""


class LeadSessionStarted(Event):
    """A later session of the lead's contact started (the first one is in `LeadOpened`):
    the lead's current session is the last one named."""

    TYPE = "LeadSessionStarted"

    session_id: EntityId


class LeadStatusChanged(Event):
    TYPE = "LeadStatusChanged"

    status: LeadStatus
    previous_status: LeadStatus
    reason: Reason
    by: OperatorId | None = None
    """None when the bot or the system moved it."""


class _FieldEvidence(Event):
    """A value for one of the lead's fields and where it comes from (invariant 5)."""

    field: LeadField
    value: FieldValue
    source: FieldSource
    inferred: bool
    confidence: Confidence
    evidence_message_ref: WaMessageRef

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.source is FieldSource.USER and self.inferred:
            raise ValueError("a value the user stated is not an inference")
        if self.field is LeadField.SERVICE_INTEREST and self.value not in set(ServiceInterest):
            raise ValueError(f"service_interest must be one of {', '.join(ServiceInterest)}")
        return self


class LeadFieldCollected(_FieldEvidence):
    """The value was applied to the lead.

    v1 had no `inferred` (every LLM value was taken as inferred) and named the evidence
    `evidence`; v2 records inference explicitly, as the lead-field rule requires."""

    TYPE = "LeadFieldCollected"
    SCHEMA_VERSION = 2


@upcaster(LeadFieldCollected.TYPE, from_version=1)
def _lead_field_collected_v1_to_v2(payload: Payload) -> Payload:
    upgraded = {key: value for key, value in payload.items() if key != "evidence"}
    upgraded["evidence_message_ref"] = payload["evidence"]
    upgraded["inferred"] = payload["source"] == FieldSource.LLM
    return upgraded


class FieldRejectionReason(StrEnum):
    BELOW_THRESHOLD = "BELOW_THRESHOLD"
    USER_VALUE_KEPT = "USER_VALUE_KEPT"
    """The user stated this field directly; an inference does not overwrite it."""


class LeadFieldRejected(_FieldEvidence):
    """The value was not applied; kept for audit."""

    TYPE = "LeadFieldRejected"

    threshold: Confidence
    reason: FieldRejectionReason


class LeadMarkedReadyForHuman(Event):
    """Handoff, not takeover: the bot may keep collecting until a human takes over."""

    TYPE = "LeadMarkedReadyForHuman"

    session_id: EntityId
    priority: Priority
    handoff_reason: HandoffReason
    detail: Diagnostic | None = None
    """The responder's or operator's explanation, if any."""
    by: OperatorId | None = None
    """None when the bot marked it."""


class LeadForgotten(Event):
    """FORGET_CONTACT: the contact's vault entry is erased, so the number behind
    `from_hash` can no longer be recovered."""

    TYPE = "LeadForgotten"

    by: OperatorId
    reason: Reason


class PhoneRevealed(Event):
    """An admin was shown the contact's phone number: the audit of who and why."""

    TYPE = "PhoneRevealed"

    by: OperatorId
    reason: Reason
