"""Snapshots: what operators read survives JSON, and inconsistent states are refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel, ValidationError

from contracts.commands import CommandStatus, CommandType
from contracts.envelope import Actor
from contracts.snapshots import (
    Command,
    Lead,
    LeadCollectedField,
    MessageLogEntry,
    SessionControl,
    SessionState,
    StatusChange,
    SystemControl,
)
from contracts.vocabulary import (
    Direction,
    FieldSource,
    LeadField,
    LeadStatus,
    MessageStatus,
    MessageType,
    Priority,
    SessionMode,
    SessionStatus,
)
from tests.unit.event_examples import FROM_HASH, NOW, WAMID

LEAD = Lead(
    lead_id="lead-1",
    from_hash=FROM_HASH,
    status=LeadStatus.READY_FOR_HUMAN,
    collected={
        LeadField.CITY: LeadCollectedField(
            value="Campinas",
            source=FieldSource.LLM,
            inferred=True,
            confidence=0.9,
            evidence_message_ref=WAMID,
            collected_at=NOW,
        ),
        LeadField.COMPANY_NAME: LeadCollectedField(
            value="Acme",
            source=FieldSource.USER,
            inferred=False,
            confidence=1.0,
            evidence_message_ref=WAMID,
            collected_at=NOW,
        ),
    },
    priority=Priority.HIGH,
    last_session_id="s-1",
    opened_at=NOW,
    last_activity_at=NOW,
)
SNAPSHOTS: list[BaseModel] = [
    LEAD,
    SessionState(
        session_id="s-1",
        lead_id="lead-1",
        from_hash=FROM_HASH,
        state=SessionStatus.COOLDOWN_ACTIVE,
        cooldown_until=NOW + timedelta(minutes=5),
        started_at=NOW,
        inbound_count=7,
    ),
    SessionControl(session_id="s-1", mode=SessionMode.HUMAN_TAKEOVER, human_assignee="ana"),
    MessageLogEntry(
        session_id="s-1",
        seq=4,
        direction=Direction.OUT,
        type=MessageType.TEXT,
        body_sanitized="Olá!",
        actor=Actor.LLM,
        outbound_id="out-1",
        status=MessageStatus.READ,
        status_history=(
            StatusChange(status=MessageStatus.PENDING, at=NOW),
            StatusChange(status=MessageStatus.SENT, at=NOW),
            StatusChange(status=MessageStatus.READ, at=NOW),
        ),
        correlation_id="corr-1",
        created_at=NOW,
    ),
    Command(
        command_id="c-1",
        type=CommandType.TAKEOVER,
        target_session_id="s-1",
        requested_by="ana",
        requested_at=NOW,
        status=CommandStatus.APPLIED,
        result="control v0 → v1",
        decided_at=NOW,
    ),
    SystemControl(),
]


@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=lambda s: type(s).__name__)
def test_snapshots_round_trip_through_json(snapshot: BaseModel) -> None:
    assert type(snapshot).model_validate_json(snapshot.model_dump_json()) == snapshot


def test_a_lead_reports_its_confidence_per_field() -> None:
    restored = Lead.model_validate_json(LEAD.model_dump_json())
    assert restored.confidence_fields == {LeadField.CITY: 0.9, LeadField.COMPANY_NAME: 1.0}


@pytest.mark.parametrize(
    ("model", "payload"),
    [
        (
            SessionState,
            {
                "session_id": "s-1",
                "lead_id": "l-1",
                "from_hash": FROM_HASH,
                "state": "COOLDOWN_ACTIVE",
                "started_at": NOW,
            },
        ),
        (
            MessageLogEntry,
            {
                "session_id": "s-1",
                "seq": 1,
                "direction": "IN",
                "type": "text",
                "actor": "LLM",
                "status": "RECEIVED",
                "correlation_id": "c",
                "created_at": NOW,
            },
        ),
        (
            Command,
            {
                "command_id": "c-1",
                "type": "TAKEOVER",
                "requested_by": "ana",
                "requested_at": NOW,
                "status": "REJECTED",
            },
        ),
        (
            Command,
            {
                "command_id": "c-1",
                "type": "TAKEOVER",
                "requested_by": "ana",
                "requested_at": NOW,
                "result": "applied?",
            },
        ),
        (SystemControl, {"mode": "PAUSED_SESSION"}),
        (SessionControl, {"session_id": "s-1", "updated_at": "2026-03-14T15:09:26"}),
    ],
)
def test_snapshots_refuse_inconsistent_shapes(
    model: type[BaseModel], payload: dict[str, object]
) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(payload)
