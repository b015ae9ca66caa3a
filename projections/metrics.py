"""The facts metrics are made of, per session, from each stream on its own (no global
order needed): `session_facts/{session_id}` (first messages and the handoff) and
`metrics_days/{session_id}:{day}` (that session's counts on that day). The report
(`projections.metrics_report`) adds them up for any range of days at read time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from contracts.events import (
    ControlChanged,
    CooldownStarted,
    FloodDetected,
    LeadMarkedReadyForHuman,
    MessageReceived,
    OutboundClaimed,
    OutboundFailed,
    OutboundKind,
    ReplyDrafted,
    ReplyDraftFailed,
)
from contracts.ports.snapshots import Document, Put, Write
from contracts.streams import StreamKind, stream_kind
from contracts.vocabulary import SessionMode
from projections.projection import Recorded, changed_at, squash

FACTS = "session_facts"
DAYS = "metrics_days"
HANDOFFS_REMEMBERED = 64


def day_of(at: datetime) -> str:
    return at.date().isoformat()


def _ms(later: datetime, earlier: datetime) -> int:
    return max(0, round((later - earlier).total_seconds() * 1000))


def _empty_day(session_id: str, day: str) -> dict[str, Any]:
    return {
        "session_id": session_id, "day": day, "inbound": 0, "bot_replies": 0,
        "human_replies": 0, "reply_latencies_ms": [], "takeovers": 0, "intents": {},
        "llm_failures": 0, "send_failures": {}, "floods": {}, "cooldowns": {},
    }  # fmt: skip


def _bump(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


class MetricsProjection:
    name = "metrics"
    collections = (FACTS, DAYS)

    def handles(self, stream_id: str) -> bool:
        return stream_kind(stream_id) in (StreamKind.SESSION, StreamKind.LEAD)

    def fold(self, state: Document, events: Sequence[Recorded]) -> tuple[Document, list[Write]]:
        lead = stream_kind(events[0].envelope.stream_id) == StreamKind.LEAD
        apply = _lead if lead else _session
        writes: list[Write] = []
        for recorded in events:
            state, more = apply(state, recorded)
            writes += more
        return state, squash(writes)


def _session(state: Document, item: Recorded) -> tuple[Document, list[Write]]:
    envelope, event = item.envelope, item.event
    session_id = envelope.stream_id.removeprefix("session-")
    state = {"facts": {}, "days": {}, "awaiting_since": None, **state}
    facts: dict[str, Any] = dict(state["facts"])
    day = day_of(envelope.occurred_at)
    counts = dict(state["days"].get(day) or _empty_day(session_id, day))
    recorded = envelope.recorded_at
    if isinstance(event, MessageReceived):
        counts["inbound"] += 1
        if "first_inbound_at" not in facts:
            facts.update(day=day, first_inbound_at=recorded.isoformat())
        state["awaiting_since"] = state["awaiting_since"] or recorded.isoformat()
    elif isinstance(event, OutboundClaimed) and event.kind is OutboundKind.REPLY:
        counts["bot_replies"] += 1
        if state["awaiting_since"]:
            waited = _ms(recorded, datetime.fromisoformat(state["awaiting_since"]))
            counts["reply_latencies_ms"] = [*counts["reply_latencies_ms"], waited]
        if "first_bot_reply_at" not in facts and "first_inbound_at" in facts:
            first = datetime.fromisoformat(facts["first_inbound_at"])
            facts.update(first_bot_reply_at=recorded.isoformat(),
                         first_bot_response_ms=_ms(recorded, first))  # fmt: skip
        state["awaiting_since"] = None
    elif isinstance(event, OutboundClaimed) and event.kind is OutboundKind.OPERATOR:
        counts["human_replies"] += 1
        facts.setdefault("first_human_reply_at", recorded.isoformat())
        state["awaiting_since"] = None
    elif isinstance(event, ControlChanged) and event.mode is SessionMode.HUMAN_TAKEOVER:
        counts["takeovers"] += 1
    elif isinstance(event, ReplyDrafted) and event.intent:
        counts["intents"] = dict(counts["intents"])
        _bump(counts["intents"], event.intent)
    elif isinstance(event, ReplyDraftFailed):
        counts["llm_failures"] += 1
    elif isinstance(event, OutboundFailed):
        counts["send_failures"] = dict(counts["send_failures"])
        _bump(counts["send_failures"], str(event.error_code or "none"))
    elif isinstance(event, FloodDetected):
        counts["floods"] = dict(counts["floods"])
        _bump(counts["floods"], event.level.value)
    elif isinstance(event, CooldownStarted):
        counts["cooldowns"] = dict(counts["cooldowns"])
        _bump(counts["cooldowns"], event.level.value)
    else:
        return state, []
    changed_facts = facts != state["facts"]
    state = {**state, "facts": facts, "days": {**state["days"], day: counts}}
    stamp = changed_at(item)
    writes: list[Write] = [Put(DAYS, f"{session_id}:{day}", {**counts, "updated_at": stamp})]
    if changed_facts:
        writes.append(
            Put(
                FACTS,
                session_id,
                {**facts, "session_id": session_id, "updated_at": stamp},
                merge=True,
            )
        )
    return state, writes


def _lead(state: Document, item: Recorded) -> tuple[Document, list[Write]]:
    """A handoff is recorded on the lead's stream; its time goes to the session's facts,
    where a human's first reply (from the session's stream) meets it."""
    envelope, event = item.envelope, item.event
    if not isinstance(event, LeadMarkedReadyForHuman):
        return state, []
    handed_off: list[str] = list(state.get("handed_off", []))
    if event.session_id in handed_off:
        return state, []
    handed_off = [*handed_off, event.session_id][-HANDOFFS_REMEMBERED:]
    fields = {
        "session_id": event.session_id,
        "handoff_at": envelope.recorded_at.isoformat(),
        "handoff_reason": event.handoff_reason.value,
    }
    return {"handed_off": handed_off}, [Put(FACTS, event.session_id, fields, merge=True)]
