"""The inbox fields of a session (`projections/inbox.py`): who waits for a human and
since when, the unread count, the last message, and the sort keys; folded from a
session's events without a store."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from contracts.envelope import Event, EventEnvelope
from contracts.events import (
    MessageEchoed,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    OutboundClaimed,
    OutboundFailed,
    OutboundKind,
    OutboundSent,
    SessionClosed,
    SessionStarted,
)
from contracts.ports.snapshots import Put
from contracts.snapshots.session import OPEN_END, WAITING_END
from contracts.vocabulary import MessageType, SessionOutcome
from projections.inbox import PREVIEW_CHARS, preview
from projections.projection import parsed
from projections.sessions import SESSIONS, SessionsProjection
from tests.unit.event_examples import FROM_HASH, NOW, record

STARTED = SessionStarted(lead_id="lead-1", from_hash=FROM_HASH, business_number_id="1065")


def ref(n: int) -> str:
    return f"{n:064x}"


def customer(n: int, type: MessageType = MessageType.TEXT, body: str | None = "oi") -> Event:
    return MessageReceived(wa_message_ref=ref(n), from_hash=FROM_HASH, type=type,
                           body_sanitized=body)  # fmt: skip


def claimed(n: int, kind: OutboundKind, text: str = "resposta") -> Event:
    by = "ana" if kind is OutboundKind.OPERATOR else None
    return OutboundClaimed(outbound_id=f"out-{n}", kind=kind, text=text, to_hash=FROM_HASH,
                           control_version=0, by=by)  # fmt: skip


def echoed(n: int) -> Event:
    return MessageEchoed(wa_message_ref=ref(n), to_hash=FROM_HASH, type=MessageType.TEXT,
                         body_sanitized="do aplicativo")  # fmt: skip


CLOSED = SessionClosed(outcome=SessionOutcome.SELF_SERVE_INFO, reason="resolvido", closed_by="ana")

STEPS: dict[str, Callable[[int], Event]] = {
    "text": lambda n: customer(n),
    "image": lambda n: customer(n, MessageType.IMAGE, None),
    "reaction": lambda n: customer(n, MessageType.REACTION, None),
    "system": lambda n: customer(n, MessageType.SYSTEM, "mudou de número"),
    "bot": lambda n: claimed(n, OutboundKind.REPLY),
    "warning": lambda n: claimed(n, OutboundKind.FLOOD_WARNING),
    "human": lambda n: claimed(n, OutboundKind.OPERATOR),
    "echo": echoed,
    "close": lambda n: CLOSED,
}


def at(n: int) -> datetime:
    return NOW + timedelta(minutes=n)


def envelopes(events: Sequence[Event]) -> list[EventEnvelope]:
    return [
        record(event, version=n).model_copy(update={"occurred_at": at(n), "recorded_at": at(n)})
        for n, event in enumerate([STARTED, *events], start=1)
    ]


def session_after(batches: Sequence[Sequence[EventEnvelope]]) -> dict[str, Any]:
    """The session document the writes leave, folding `batches` one after the other."""
    projection = SessionsProjection()
    state: dict[str, Any] = {}
    document: dict[str, Any] = {}
    for batch in batches:
        state, writes = projection.fold(state, parsed(batch))
        for write in writes:
            if isinstance(write, Put) and write.collection == SESSIONS:
                document = {**document, **write.data}
    return document


def reference(kinds: Sequence[str], failed: set[int]) -> tuple[datetime | None, int]:
    """The spec: after a close nobody waits; else the customer's messages (texts and
    media, not reactions or notices) after the last message a person sent (operator or
    Business app; not an operator's that failed) are unanswered, and the customer waits
    since the first of them."""
    if "close" in kinds:
        return None, 0
    answers = [i for i, kind in enumerate(kinds)
               if kind == "echo" or (kind == "human" and i not in failed)]  # fmt: skip
    after = answers[-1] + 1 if answers else 0
    # event i of `kinds` is version i + 2 of the stream (version 1: SessionStarted)
    unanswered = [i for i in range(after, len(kinds)) if kinds[i] in ("text", "image")]
    return (at(unanswered[0] + 2) if unanswered else None), len(unanswered)


@st.composite
def conversations(draw: st.DrawFn) -> tuple[list[str], list[Event]]:
    """Steps and their events; some operator answers get an outcome (sent or failed)
    some time after them, others never."""
    kinds = draw(st.lists(st.sampled_from(sorted(STEPS)), max_size=25))
    events = [STEPS[kind](n) for n, kind in enumerate(kinds)]
    claims = [e for e in events if isinstance(e, OutboundClaimed) and e.by is not None]
    for n, claim in enumerate(claims):
        if not draw(st.booleans()):
            continue
        where = draw(st.integers(events.index(claim) + 1, len(events)))
        outcome: Event
        if draw(st.booleans()):
            outcome = OutboundFailed(outbound_id=claim.outbound_id, error_code=131047,
                                     reason="janela de 24 h fechada")  # fmt: skip
        else:
            outcome = OutboundSent(outbound_id=claim.outbound_id, wa_message_ref=ref(10_000 + n))
        kinds.insert(where, "outcome")
        events.insert(where, outcome)
    return kinds, events


@given(conversations(), st.data())
def test_waiting_since_and_unread_count_follow_the_reference(
    conversation: tuple[list[str], list[Event]], data: st.DataObject
) -> None:
    kinds, steps = conversation
    events = envelopes(steps)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(events) - 1)), max_size=4)))
    bounds = zip([0, *cuts], [*cuts, len(events)], strict=True)
    batches = [events[a:b] for a, b in bounds if events[a:b]]

    whole, split = session_after([events]), session_after(batches)

    gone = {e.outbound_id for e in steps if isinstance(e, OutboundFailed)}
    failed = {
        i for i, e in enumerate(steps) if isinstance(e, OutboundClaimed) and e.outbound_id in gone
    }
    waiting, unread = reference(kinds, failed)
    expected = None if waiting is None else waiting.isoformat().replace("+00:00", "Z")
    assert (whole["waiting_since"], whole["unread_count"]) == (expected, unread)
    assert {k: v for k, v in split.items() if k != "updated_at"} == {
        k: v for k, v in whole.items() if k != "updated_at"
    }


def test_a_bot_reply_does_not_stop_the_wait_and_a_human_one_does() -> None:
    events = [customer(1), claimed(2, OutboundKind.REPLY), customer(3)]
    bot_only = session_after([envelopes(events)])
    answered = session_after([envelopes([*events, claimed(4, OutboundKind.OPERATOR, "ok")])])

    assert bot_only["waiting_since"] is not None
    assert bot_only["unread_count"] == 2
    assert bot_only["last_message_actor"] == "USER"
    assert (answered["waiting_since"], answered["unread_count"]) == (None, 0)
    assert (answered["last_message_actor"], answered["last_message_preview"]) == ("HUMAN", "ok")


def test_the_preview_is_the_last_message_clipped_typed_edited_or_deleted() -> None:
    long = "a" * 500
    photo = session_after([envelopes([customer(1, MessageType.IMAGE, "minha casa")])])
    clipped = session_after([envelopes([customer(1, body=long)])])
    edit = MessageEdited(wa_message_ref=ref(9), from_hash=FROM_HASH, original_ref=ref(1),
                         body_sanitized="corrigido")  # fmt: skip
    edited = session_after([envelopes([customer(1), edit])])
    revoke = MessageRevoked(wa_message_ref=ref(8), from_hash=FROM_HASH, original_ref=ref(1))
    deleted = session_after([envelopes([customer(1), revoke])])
    older = session_after([envelopes([customer(1), customer(2, body="depois"), revoke])])

    assert photo["last_message_preview"] == "[image] minha casa"
    assert clipped["last_message_preview"] == "a" * (PREVIEW_CHARS - 1) + "…"
    assert edited["last_message_preview"] == "corrigido"
    assert deleted["last_message_preview"] == "[deleted]"
    assert older["last_message_preview"] == "depois"  # deleting an older one changes nothing
    assert preview(MessageType.AUDIO, None) == "[audio]"


def rank_order(doc: dict[str, Any]) -> tuple[int, float]:
    """The spec of the waiting order: waiting (longest first), open, closed; the latest
    active first within the last two."""
    if doc["waiting_since"]:
        return 0, datetime.fromisoformat(doc["waiting_since"]).timestamp()
    latest = datetime.fromisoformat(doc["last_message_at"] or doc["started_at"])
    return (2 if doc["closed"] else 1), -latest.timestamp()


@given(st.lists(st.lists(st.sampled_from(sorted(STEPS)), max_size=12), min_size=2, max_size=6))
def test_wait_rank_orders_waiting_then_open_then_closed(histories: list[list[str]]) -> None:
    docs = [session_after([envelopes([STEPS[k](n) for n, k in enumerate(kinds)])])
            for kinds in histories]  # fmt: skip

    by_rank = sorted(docs, key=lambda d: d["wait_rank"])

    assert [rank_order(d) for d in by_rank] == sorted(rank_order(d) for d in docs)
    for doc, kinds in zip(docs, histories, strict=True):
        assert doc["closed"] == ("close" in kinds)
        assert (doc["wait_rank"] < OPEN_END) == (not doc["closed"])
        assert (doc["wait_rank"] < WAITING_END) == (doc["waiting_since"] is not None)
