"""The words the inbox rows use for time (how long a customer waits, what is left of
WhatsApp's 24 h window), and the inbox's view as a link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest

from contracts.api import AssigneeFilter, SessionSort
from contracts.vocabulary import SessionMode
from ingress.console.inbox_view import InboxView
from ingress.console.presentation import waited, window_left

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ago", "said"),
    [(timedelta(seconds=20), "waiting under a minute"), (timedelta(minutes=12), "waiting 12 min"),
     (timedelta(hours=3, minutes=5), "waiting 3 h"), (timedelta(days=2, hours=1), "waiting 2 d")],
)  # fmt: skip
def test_a_waiting_customer_is_said_waiting_so_long(ago: timedelta, said: str) -> None:
    assert waited(NOW - ago, NOW) == said


def test_nothing_is_said_when_nobody_waits() -> None:
    assert waited(None, NOW) is None
    assert window_left(None, NOW) is None


@pytest.mark.parametrize(
    ("left", "said"),
    [(timedelta(hours=3, minutes=59), "window 3 h left"),
     (timedelta(minutes=7), "window 7 min left"),
     (timedelta(seconds=5), "window under 1 min left"), (timedelta(0), "window closed"),
     (-timedelta(hours=1), "window closed")],
)  # fmt: skip
def test_the_window_says_what_is_left_or_that_it_closed(left: timedelta, said: str) -> None:
    assert window_left(NOW + left, NOW) == said


def test_a_page_link_keeps_the_view_and_leaves_out_the_defaults() -> None:
    view = InboxView(assignee=AssigneeFilter.MINE, mode=SessionMode.HUMAN_TAKEOVER,
                     closed=False, q="maria souza")  # fmt: skip

    assert parse_qs(view.query("next-page")) == {
        "assignee": ["mine"], "mode": ["HUMAN_TAKEOVER"], "closed": ["false"],
        "q": ["maria souza"], "cursor": ["next-page"],
    }  # fmt: skip
    assert InboxView().query() == ""
    assert InboxView(sort=SessionSort.LATEST).query() == "sort=latest"
