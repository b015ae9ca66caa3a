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
from datetime import date, datetime, timedelta

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


MAX_FILLED_DAYS = 400
"""A range longer than this is not filled with empty days beyond the days that have
data (`from=0001-01-01` must not answer three million days)."""


def report(
    facts: Sequence[Document], days: Sequence[Document], start: str | None, end: str | None
) -> MetricsReport:
    """Per day and over the whole period. `days` holds every day of the period, with
    nothing in it or not, so that a chart has no gaps: from `start` (else the first day
    with data) to `end` (else the last), unless that is more than `MAX_FILLED_DAYS`,
    when it spans only the days with data."""
    by_day: dict[str, tuple[list[Document], list[Document]]] = {}
    for fact in facts:
        if "day" in fact:
            by_day.setdefault(fact["day"], ([], []))[0].append(fact)
    for day in days:
        by_day.setdefault(day["day"], ([], []))[1].append(day)
    for empty in calendar(sorted(by_day), start, end):
        by_day.setdefault(empty, ([], []))
    per_day = [
        DayMetrics(day=day, **summarize(*by_day[day]).model_dump()) for day in sorted(by_day)
    ]
    dated = [fact for fact in facts if "day" in fact]
    return MetricsReport(start=start, end=end, overall=summarize(dated, days), days=per_day)


def calendar(with_data: Sequence[str], start: str | None, end: str | None) -> list[str]:
    """Every day (ISO dates) a report of `start`..`end` shows, given the days that have
    data (sorted)."""
    first = start or (with_data[0] if with_data else None)
    last = end or (with_data[-1] if with_data else None)
    if first is None or last is None or first > last:
        return list(with_data)
    lo, hi = date.fromisoformat(first), date.fromisoformat(last)
    if (hi - lo).days >= MAX_FILLED_DAYS:
        if not with_data:
            return []
        lo, hi = date.fromisoformat(with_data[0]), date.fromisoformat(with_data[-1])
    return [(lo + timedelta(days=n)).isoformat() for n in range((hi - lo).days + 1)]
