"""`GET /console/dashboard`: the business metrics per day over a chosen range, drawn by
the vendored uPlot, and the dead letters with what each one is and what to do. Read
through `ingress.reading` like the API's `/api/metrics` and `/api/dead-letters`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from contracts.api import DayMetrics, MetricsReport
from contracts.topics import (
    COMMANDS_SUBSCRIPTION,
    CONVERSATION_SUBSCRIPTION,
    PROJECTOR_SUBSCRIPTION,
    SENDER_SUBSCRIPTION,
)
from ingress import reading
from ingress.auth import Services
from ingress.console.pages import page_chrome, read_models
from ingress.console.rendering import render
from ingress.console.sessions import SignedInOperator

router = APIRouter()

DEFAULT_DAYS = 14
MAX_DAYS = 366
DEAD_LETTERS_SHOWN = 50

WHAT_TO_DO = {
    "webhook": "A signed WhatsApp delivery that could not be read, kept sealed. Check the "
    "reason (often a payload shape Meta changed); the rest of that delivery was processed.",
    CONVERSATION_SUBSCRIPTION: "A customer message whose reply could not be drafted (the "
    "LLM down or answering garbage). The message is recorded; once the responder is back, "
    "the customer's next message gets a reply covering it, or take over and answer.",
    COMMANDS_SUBSCRIPTION: "A command that kept failing for a reason other than its merits. "
    "Look at the command's session and send the command again if it is still wanted.",
    SENDER_SUBSCRIPTION: "A claimed reply that could not be sent or settled. Check the "
    "conversation on WhatsApp; if it did not arrive, take over and send it again.",
    PROJECTOR_SUBSCRIPTION: "An event the projector could not apply: the console may be "
    "behind. Run `switchboard projections status`, then `projections rebuild`.",
}


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else round(ms / 1000, 1)


def _by_key(days: list[DayMetrics], pick: str) -> dict[str, list[int]]:
    """A counter field (floods, cooldowns, send failures) as one series per key."""
    keys = sorted({key for day in days for key in getattr(day, pick)})
    return {key: [getattr(day, pick).get(key, 0) for day in days] for key in keys}


def every_day(report: MetricsReport, start: date, end: date) -> list[DayMetrics]:
    """One entry per day of the range, a day without facts counting nothing."""
    found = {day.day: day for day in report.days}
    days = (start + timedelta(days=n) for n in range((end - start).days + 1))
    return [found.get(d.isoformat(), DayMetrics(day=d.isoformat())) for d in days]


def charts(days: list[DayMetrics]) -> dict[str, Any]:
    """What the page's script draws: x as Unix seconds (midnight UTC of each day), and
    each chart's series by name."""
    x = [int(datetime.fromisoformat(day.day).replace(tzinfo=UTC).timestamp()) for day in days]
    rate = [None if d.handoff_rate is None else round(d.handoff_rate * 100, 1) for d in days]
    return {
        "x": x,
        "charts": [
            {"id": "first-response", "title": "First response time, median (seconds)",
             "series": {"bot": [_seconds(d.first_response_bot.p50_ms) for d in days],
                        "human": [_seconds(d.first_response_human.p50_ms) for d in days]}},
            {"id": "handoff-rate", "title": "Handoff rate (%)", "series": {"handoff rate": rate}},
            {"id": "takeovers", "title": "Takeovers", "series": {
                "takeovers": [d.takeovers for d in days]}},
            {"id": "floods", "title": "Floods by level", "series": _by_key(days, "floods")},
            {"id": "cooldowns", "title": "Cooldowns by level",
             "series": _by_key(days, "cooldowns")},
            {"id": "send-failures", "title": "Send failures by WhatsApp error code",
             "series": _by_key(days, "send_failures")},
            {"id": "llm-failures", "title": "LLM failures",
             "series": {"LLM failures": [d.llm_failures for d in days]}},
        ],
    }  # fmt: skip


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(
    request: Request,
    who: SignedInOperator,
    services: Services,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
) -> HTMLResponse:
    today = services.clock().date()
    end = end or today
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    problem = None
    if start > end or (end - start).days >= MAX_DAYS:
        problem = f"choose a range of 1 to {MAX_DAYS} days, the first day before the last"
        start, end = today - timedelta(days=DEFAULT_DAYS - 1), today
    report = read_models(services, lambda s: reading.metrics(s, start, end))
    letters = read_models(services, lambda s: reading.dead_letters(services, s, DEAD_LETTERS_SHOWN))
    days = every_day(report, start, end)
    return render(request, "dashboard.html", {
        **page_chrome(services, who), "page_title": "Dashboard", "report": report,
        "days": days, "charts": charts(days), "start": start, "end": end, "problem": problem,
        "letters": letters, "what_to_do": WHAT_TO_DO,
    })  # fmt: skip
