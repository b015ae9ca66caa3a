"""The message log a customer's orders, welcome requests, deletions and edits leave:
`projections.messages` folded over a session's events, without a store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from contracts.content import Order, OrderItem
from contracts.envelope import Event, EventEnvelope
from contracts.events import MessageEdited, MessageReceived, MessageRevoked, SessionStarted
from contracts.ports.snapshots import Put
from contracts.snapshots.messages import MessageLogEntry
from contracts.vocabulary import MessageType
from domain.amendment import recent_sessions
from projections.messages import MESSAGES, MessagesProjection, message_id
from projections.projection import parsed
from tests.unit.event_examples import FROM_HASH, NOW, record

HI, ORDER, WELCOME = ("a1" * 32, "b2" * 32, "c3" * 32)
ORDERED = Order(
    catalog_id="1537312090392347",
    items=(OrderItem(product_retailer_id="plano-pro", quantity=2, item_price=99.9,
                     currency="BRL"),),
)  # fmt: skip


def received(ref: str, type: MessageType, body: str | None = None, **parts: Any) -> Event:
    return MessageReceived(
        wa_message_ref=ref, from_hash=FROM_HASH, type=type, body_sanitized=body, **parts
    )


def amended(ref: str, original: str, body: str | None = None) -> Event:
    if body is None:
        return MessageRevoked(wa_message_ref=ref, from_hash=FROM_HASH, original_ref=original)
    return MessageEdited(
        wa_message_ref=ref, from_hash=FROM_HASH, original_ref=original, body_sanitized=body
    )


CONVERSATION = [
    SessionStarted(lead_id="lead-1", from_hash=FROM_HASH, business_number_id="1065"),
    received(WELCOME, MessageType.REQUEST_WELCOME),
    received(HI, MessageType.TEXT, "quero o plano bsico"),
    received(ORDER, MessageType.ORDER, "entregar na portaria", order=ORDERED),
    amended("d4" * 32, HI, "quero o plano básico"),
    amended("e5" * 32, ORDER),
    amended("f6" * 32, HI, "quero o plano pro"),
]


def envelopes(events: Sequence[Event]) -> list[EventEnvelope]:
    return [
        record(event, version=n).model_copy(update={"occurred_at": NOW + timedelta(minutes=n)})
        for n, event in enumerate(events, start=1)
    ]


def log_after(batches: Sequence[Sequence[EventEnvelope]]) -> dict[str, dict[str, Any]]:
    """The documents the writes leave, folding `batches` one after the other."""
    projection = MessagesProjection()
    state: dict[str, Any] = {}
    documents: dict[str, dict[str, Any]] = {}
    for batch in batches:
        state, writes = projection.fold(state, parsed(batch))
        for write in writes:
            assert isinstance(write, Put)
            assert write.collection == MESSAGES
            earlier = documents.get(write.doc_id, {}) if write.merge else {}
            assert not write.merge or earlier, "a merge names a document written before"
            documents[write.doc_id] = {**earlier, **write.data}
    return {
        doc_id: {k: v for k, v in d.items() if k != "updated_at"} for doc_id, d in documents.items()
    }


def test_an_order_a_welcome_an_edit_and_a_deletion_as_the_log_shows_them() -> None:
    log = log_after([envelopes(CONVERSATION)])

    assert sorted(log) == [message_id("s1", seq) for seq in (2, 3, 4)]  # amendments add none
    welcome, hi, order = (
        MessageLogEntry.model_validate(log[message_id("s1", n)]) for n in (2, 3, 4)
    )
    assert (welcome.type, welcome.body_sanitized, welcome.deleted_at) == (
        MessageType.REQUEST_WELCOME, None, None,
    )  # fmt: skip
    assert (order.type, order.order, order.body_sanitized) == (
        MessageType.ORDER, ORDERED, "entregar na portaria",
    )  # fmt: skip
    assert order.deleted_at == NOW + timedelta(minutes=6)
    assert hi.body_sanitized == "quero o plano pro"
    assert [(e.body_sanitized, e.replaced_at) for e in hi.edits] == [
        ("quero o plano bsico", NOW + timedelta(minutes=5)),
        ("quero o plano básico", NOW + timedelta(minutes=7)),
    ]
    assert hi.deleted_at is None


def test_the_log_is_the_same_folded_at_once_or_event_by_event() -> None:
    recorded = envelopes(CONVERSATION)

    assert log_after([[each] for each in recorded]) == log_after([recorded])
    assert log_after([recorded[:4], recorded[4:]]) == log_after([recorded])


def test_an_amendment_of_a_message_this_log_does_not_hold_changes_nothing() -> None:
    recorded = envelopes([*CONVERSATION[:3], amended("a7" * 32, "99" * 32, "outro")])

    assert log_after([recorded]) == log_after([recorded[:3]])


def test_a_leads_recent_sessions_are_listed_newest_first() -> None:
    lead = "a" * 16
    events = [
        EventEnvelope.model_validate(
            {
                "event_id": f"e{n}",
                "stream_id": f"lead-{lead}",
                "version": n + 1,
                "type": kind,
                "schema_version": 1,
                "occurred_at": "2026-03-14T15:00:00Z",
                "recorded_at": "2026-03-14T15:00:00Z",
                "correlation_id": "c",
                "actor": "SYSTEM",
                "payload": {"session_id": f"s{n}"},
            }
        )
        for n, kind in enumerate(["LeadOpened", *["LeadStatusChanged", "LeadSessionStarted"] * 4])
    ]

    assert recent_sessions(events, 4) == ["s8", "s6", "s4", "s2"]
    assert recent_sessions(events, 9) == ["s8", "s6", "s4", "s2", "s0"]
