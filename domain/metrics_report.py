"""The business metrics, per day and over a range, added up from the metrics facts.

Definitions (also in docs/operations.md):

- **first response time (bot)**: a session's first customer message → the bot's first
  reply claimed; counted on the day of that first message.
- **first response time (human)**: the handoff (lead marked ready for a human) → the
  first message an operator sent in that session.
- **reply latency**: each bot reply, from the first customer message it answers (the
  start of the burst) to its claim; p50 and p90.
- **handoff rate**: sessions handed off over the sessions the bot could hand off (those
  it answered at least once).
- takeovers, intents (of the bot's drafts), LLM failures, send failures by WhatsApp error
  code, floods and cooldowns by level: counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

from contracts.api import DayMetrics, Distribution, Metrics, MetricsReport
from contracts.ports.snapshots import Document


def _nearest_rank(ordered: Sequence[int], share: float) -> int:
    rank = max(1, -(-round(share * 1000) * len(ordered) // 1000))
    return ordered[rank - 1]


def distribution(values: Iterable[int]) -> Distribution:
    ordered = sorted(values)
    if not ordered:
        return Distribution()
    return Distribution(
        count=len(ordered),
        p50_ms=_nearest_rank(ordered, 0.5),
        p90_ms=_nearest_rank(ordered, 0.9),
        mean_ms=round(sum(ordered) / len(ordered)),
    )


def _human_ms(fact: Document) -> int | None:
    handoff, reply = fact.get("handoff_at"), fact.get("first_human_reply_at")
    if not handoff or not reply or reply < handoff:
        return None
    delta = datetime.fromisoformat(reply) - datetime.fromisoformat(handoff)
    return round(delta.total_seconds() * 1000)


def summarize(facts: Sequence[Document], days: Sequence[Document]) -> Metrics:
    """`facts`: the session facts of sessions that started in the period; `days`: the
    per-session day counts of the period."""
    counters = {name: Counter[str]() for name in ("intents", "send_failures", "floods",
                                                  "cooldowns")}  # fmt: skip
    latencies: list[int] = []
    totals = Counter[str]()
    for day in days:
        for name in ("inbound", "bot_replies", "human_replies", "takeovers", "llm_failures"):
            totals[name] += int(day.get(name, 0))
        latencies += day.get("reply_latencies_ms", [])
        for name, counter in counters.items():
            counter.update(day.get(name, {}))
    eligible = [f for f in facts if f.get("first_bot_reply_at")]
    handed_off = [f for f in eligible if f.get("handoff_at")]
    human = [ms for f in facts if (ms := _human_ms(f)) is not None]
    return Metrics(
        sessions=len(facts),
        inbound_messages=totals["inbound"],
        bot_replies=totals["bot_replies"],
        human_replies=totals["human_replies"],
        first_response_bot=distribution(
            int(f["first_bot_response_ms"]) for f in facts if "first_bot_response_ms" in f
        ),
        first_response_human=distribution(human),
        reply_latency=distribution(latencies),
        handoffs=len(handed_off),
        handoff_eligible=len(eligible),
        handoff_rate=round(len(handed_off) / len(eligible), 4) if eligible else None,
        takeovers=totals["takeovers"],
        intents=dict(counters["intents"]),
        llm_failures=totals["llm_failures"],
        send_failures=dict(counters["send_failures"]),
        floods=dict(counters["floods"]),
        cooldowns=dict(counters["cooldowns"]),
    )


def report(
    facts: Sequence[Document], days: Sequence[Document], start: str | None, end: str | None
) -> MetricsReport:
    """Per day (each day with anything in it) and over the whole period."""
    by_day: dict[str, tuple[list[Document], list[Document]]] = {}
    for fact in facts:
        if "day" in fact:
            by_day.setdefault(fact["day"], ([], []))[0].append(fact)
    for day in days:
        by_day.setdefault(day["day"], ([], []))[1].append(day)
    per_day = [
        DayMetrics(day=day, **summarize(*by_day[day]).model_dump()) for day in sorted(by_day)
    ]
    dated = [fact for fact in facts if "day" in fact]
    return MetricsReport(start=start, end=end, overall=summarize(dated, days), days=per_day)
