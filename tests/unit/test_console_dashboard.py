"""The dashboard's chart series: one point per day of the range, whatever days had facts."""

from __future__ import annotations

from datetime import date

from contracts.api import DayMetrics, Distribution, Metrics, MetricsReport
from ingress.console.dashboard import charts, every_day


def report(*days: DayMetrics) -> MetricsReport:
    return MetricsReport(start=None, end=None, overall=Metrics(), days=list(days))


def series(drawn: dict[str, object], chart: str) -> dict[str, list[object]]:
    found = next(c for c in drawn["charts"] if c["id"] == chart)  # type: ignore[attr-defined]
    return found["series"]  # type: ignore[no-any-return]


def test_a_day_without_facts_counts_nothing_and_has_no_latency() -> None:
    busy = DayMetrics(day="2026-03-02", takeovers=3, first_response_bot=Distribution(
        count=2, p50_ms=1500), floods={"LIGHT": 2}, send_failures={"131047": 1})  # fmt: skip

    days = every_day(report(busy), date(2026, 3, 1), date(2026, 3, 3))
    drawn = charts(days)

    assert [d.day for d in days] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert drawn["x"] == [1772323200, 1772409600, 1772496000]
    assert series(drawn, "takeovers") == {"takeovers": [0, 3, 0]}
    assert series(drawn, "first-response")["bot"] == [None, 1.5, None]
    assert series(drawn, "floods") == {"LIGHT": [0, 2, 0]}
    assert series(drawn, "send-failures") == {"131047": [0, 1, 0]}
    assert series(drawn, "cooldowns") == {}


def test_a_day_outside_the_range_is_not_drawn() -> None:
    outside = DayMetrics(day="2026-02-01", takeovers=9)

    days = every_day(report(outside), date(2026, 3, 1), date(2026, 3, 1))

    assert series(charts(days), "takeovers") == {"takeovers": [0]}
