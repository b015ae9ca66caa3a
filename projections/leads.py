"""`leads/{lead_id}`: the consolidated commercial record. Only applied values are in
`collected`, each with its source, inference flag, confidence and evidence; rejected
ones are in the lead's audit (`lead_events`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from contracts.events import (
    LeadFieldCollected,
    LeadForgotten,
    LeadMarkedReadyForHuman,
    LeadOpened,
    LeadSessionStarted,
    LeadStatusChanged,
)
from contracts.ports.snapshots import Document, Put, Write
from contracts.snapshots.lead import Lead, LeadCollectedField
from contracts.streams import StreamKind, stream_kind
from contracts.vocabulary import LeadField, LeadStatus, ServiceInterest
from projections.projection import Recorded, changed_at

LEADS = "leads"


class LeadsProjection:
    name = "leads"
    collections = (LEADS,)

    def handles(self, stream_id: str) -> bool:
        return stream_kind(stream_id) == StreamKind.LEAD

    def fold(self, state: Document, events: Sequence[Recorded]) -> tuple[Document, list[Write]]:
        lead = Lead.model_validate(state) if state else None
        for recorded in events:
            event, at = recorded.event, recorded.envelope.occurred_at
            if isinstance(event, LeadOpened):
                lead = Lead(
                    lead_id=recorded.envelope.stream_id.removeprefix("lead-"),
                    from_hash=event.from_hash, status=LeadStatus.OPEN,
                    last_session_id=event.session_id, opened_at=at, last_activity_at=at,
                )  # fmt: skip
            elif lead is not None:
                lead = lead.model_copy(update={**_changes(lead, event, at), "last_activity_at": at})
        if lead is None:
            return state, []
        document = lead.model_dump(mode="json")
        confidences = {field.value: value for field, value in lead.confidence_fields.items()}
        written = {
            **document,
            "confidence_fields": confidences,
            "updated_at": changed_at(events[-1]),
        }
        return document, [Put(LEADS, lead.lead_id, written)]


def _changes(lead: Lead, event: object, at: datetime) -> dict[str, Any]:
    if isinstance(event, LeadSessionStarted):
        return {"last_session_id": event.session_id}
    if isinstance(event, LeadStatusChanged):
        return {"status": event.status}
    if isinstance(event, LeadFieldCollected):
        field = LeadCollectedField(
            value=event.value, source=event.source, inferred=event.inferred,
            confidence=event.confidence, evidence_message_ref=event.evidence_message_ref,
            collected_at=at,
        )  # fmt: skip
        changes: dict[str, Any] = {"collected": {**lead.collected, event.field: field}}
        if event.field is LeadField.SERVICE_INTEREST:
            changes["service_interest"] = ServiceInterest(event.value)
        return changes
    if isinstance(event, LeadMarkedReadyForHuman):
        return {"priority": event.priority, "handoff_reason": event.handoff_reason}
    if isinstance(event, LeadForgotten):
        return {"forgotten_at": at}
    return {}
