"""The per-day series of `GET /api/metrics` (`domain/metrics_report.py`), from the
`session_facts` and `metrics_days` documents the metrics projection keeps."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from domain.metrics_report import MAX_FILLED_DAYS, report

FIRST = date(2026, 3, 1)
LEVELS = ["LIGHT", "MEDIUM", "HEAVY"]
CODES = ["131047", "131026", "none"]


def day_of(n: int) -> str:
    return (FIRST + timedelta(days=n)).isoformat()


def counts(n: int, session: int, draw: st.DrawFn) -> dict[str, Any]:
    small = st.integers(0, 3)
    return {
        "session_id": f"s{session}", "day": day_of(n), "inbound": draw(small),
        "bot_replies": draw(small), "human_replies": draw(small), "takeovers": draw(small),
        "llm_failures": draw(small), "reply_latencies_ms": draw(st.lists(st.integers(0, 9000))),
        "intents": {}, "send_failures": draw(st.dictionaries(st.sampled_from(CODES), small)),
        "floods": draw(st.dictionaries(st.sampled_from(LEVELS), small)),
        "cooldowns": draw(st.dictionaries(st.sampled_from(LEVELS), small)),
    }  # fmt: skip


@st.composite
def period(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Session facts and day counts over the first 20 days of March."""
    facts, days = [], []
    for session in range(draw(st.integers(0, 8))):
        start = draw(st.integers(0, 19))
        fact: dict[str, Any] = {"session_id": f"s{session}", "day": day_of(start)}
        if draw(st.booleans()):
            fact["first_bot_reply_at"] = "2026-03-01T00:00:01+00:00"
            fact["first_bot_response_ms"] = draw(st.integers(0, 60_000))
        if draw(st.booleans()):
            fact["handoff_at"] = f"{day_of(start)}T10:00:00+00:00"
            fact["first_human_reply_at"] = f"{day_of(start)}T10:0{draw(st.integers(0, 9))}:00+00:00"
        facts.append(fact)
        active = draw(st.sets(st.integers(start, min(19, start + 3)), min_size=1))
        days += [counts(n, session, draw) for n in sorted(active)]
    return facts, days


def nearest_rank(values: list[int], share: float) -> int | None:
    ordered = sorted(values)
    return ordered[math.ceil(share * len(ordered)) - 1] if ordered else None


@given(period(), st.integers(0, 25), st.integers(0, 25))
def test_every_day_of_the_range_is_there_and_the_days_add_up_to_the_period(
    data: tuple[list[dict[str, Any]], list[dict[str, Any]]], lo: int, hi: int
) -> None:
    facts, days = data
    start, end = day_of(min(lo, hi)), day_of(max(lo, hi))
    facts_in = [f for f in facts if start <= f["day"] <= end]
    days_in = [d for d in days if start <= d["day"] <= end]

    answer = report(facts_in, days_in, start, end)

    assert [d.day for d in answer.days] == [day_of(n) for n in range(min(lo, hi), max(lo, hi) + 1)]
    for name in ("inbound_messages", "bot_replies", "human_replies", "takeovers", "llm_failures",
                 "sessions", "handoffs", "handoff_eligible"):  # fmt: skip
        assert sum(getattr(d, name) for d in answer.days) == getattr(answer.overall, name), name
    for name in ("floods", "cooldowns", "send_failures"):
        total: dict[str, int] = {}
        for d in answer.days:
            for key, value in getattr(d, name).items():
                total[key] = total.get(key, 0) + value
        assert {k: v for k, v in total.items() if v} == {
            k: v for k, v in getattr(answer.overall, name).items() if v
        }
    for d in answer.days:
        of_day = [f["first_bot_response_ms"] for f in facts_in
                  if f["day"] == d.day and "first_bot_response_ms" in f]  # fmt: skip
        assert (d.first_response_bot.p50_ms, d.first_response_bot.p90_ms) == (
            nearest_rank(of_day, 0.5),
            nearest_rank(of_day, 0.9),
        )
        handed = [f for f in facts_in if f["day"] == d.day and "handoff_at" in f]
        assert d.first_response_human.count == len(handed)
        eligible = [f for f in facts_in if f["day"] == d.day and "first_bot_reply_at" in f]
        rate = sum(1 for f in eligible if "handoff_at" in f) / len(eligible) if eligible else None
        assert d.handoff_rate == (None if rate is None else round(rate, 4))


def test_an_open_or_huge_range_spans_the_days_with_data_only() -> None:
    days = [{"session_id": "s", "day": day_of(n), "inbound": 1} for n in (3, 5)]

    open_ended = report([], days, None, None)
    huge = report([], days, "0001-01-01", "9999-12-31")
    from_only = report([], days, day_of(1), None)

    assert [d.day for d in open_ended.days] == [day_of(n) for n in (3, 4, 5)]
    assert [d.day for d in huge.days] == [day_of(n) for n in (3, 4, 5)]
    assert [d.day for d in from_only.days] == [day_of(n) for n in range(1, 6)]
    assert len(report([], [], day_of(0), day_of(MAX_FILLED_DAYS - 1)).days) == MAX_FILLED_DAYS
    assert report([], [], "0001-01-01", "9999-12-31").days == []
