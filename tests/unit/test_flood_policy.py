"""The flood policy: levels at their thresholds, cooldowns that double on a repeat
within 24 hours up to 6 hours, a score over a sliding window in which a repeated text
weighs more, and the same rules as `decide_inbound` applies them."""

from __future__ import annotations

from datetime import datetime, timedelta
from random import Random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.commands import Close
from contracts.envelope import Event
from contracts.events import (
    CooldownEscalated,
    CooldownStarted,
    FloodDetected,
    OutboundClaimed,
    OutboundSuppressed,
)
from contracts.vocabulary import FloodLevel, MessageType, SessionOutcome
from domain.flood import REPEAT_WEIGHT, FloodPolicy, InboundMark, flood_score, mark
from tests.unit.domain_world import T0, World, contact

POLICY = FloodPolicy()
LEVELS = list(FloodLevel)
MODERATE = settings(max_examples=200, deadline=None)


# --- levels ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "level"),
    [
        (0, None),
        (7.5, None),
        (7.999, None),
        (8, FloodLevel.LIGHT),
        (14.5, FloodLevel.LIGHT),
        (15, FloodLevel.MEDIUM),
        (29.5, FloodLevel.MEDIUM),
        (30, FloodLevel.HEAVY),
        (10_000, FloodLevel.HEAVY),
    ],
)
def test_a_score_reaches_a_level_at_its_threshold(score: float, level: FloodLevel | None) -> None:
    assert POLICY.level(score) is level


@MODERATE
@given(st.floats(0, 100), st.floats(0, 100))
def test_a_higher_score_never_earns_a_lighter_level(a: float, b: float) -> None:
    rank = {None: 0, FloodLevel.LIGHT: 1, FloodLevel.MEDIUM: 2, FloodLevel.HEAVY: 3}
    low, high = sorted((a, b))
    assert rank[POLICY.level(low)] <= rank[POLICY.level(high)]


# --- cooldown length ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "minutes"),
    [
        (FloodLevel.LIGHT, [5, 10, 20, 40, 80, 160, 320, 360, 360]),
        (FloodLevel.MEDIUM, [15, 30, 60, 120, 240, 360, 360]),
        (FloodLevel.HEAVY, [60, 120, 240, 360, 360]),
    ],
)
def test_each_repeat_doubles_the_cooldown_up_to_six_hours(
    level: FloodLevel, minutes: list[int]
) -> None:
    assert [POLICY.cooldown_minutes(level, repeat) for repeat in range(len(minutes))] == minutes


@MODERATE
@given(st.sampled_from(LEVELS), st.integers(0, 10_000))
def test_cooldown_is_the_base_doubled_per_repeat_capped_at_360(
    level: FloodLevel, repeat: int
) -> None:
    expected = min(POLICY.base_minutes(level) * 2**repeat, 360)
    assert POLICY.cooldown_minutes(level, repeat) == expected


@MODERATE
@given(
    st.sampled_from(LEVELS),
    st.integers(0, 200),
    st.integers(1, 500),
    st.integers(1, 360),
)
def test_any_policy_doubles_its_own_base_and_caps_at_its_own_max(
    level: FloodLevel, repeat: int, base: int, cap: int
) -> None:
    policy = FloodPolicy(
        light_minutes=base, medium_minutes=base, heavy_minutes=base, max_minutes=cap
    )
    minutes = policy.cooldown_minutes(level, repeat)
    assert minutes == min(base * 2**repeat, cap)
    assert 1 <= minutes <= 360


# --- repeats -----------------------------------------------------------------------------


def test_a_repeat_counts_only_within_24_hours_before_now() -> None:
    now = T0 + timedelta(days=2)
    starts = [
        now - timedelta(hours=24),  # exactly a day ago: out
        now - timedelta(hours=24) + timedelta(seconds=1),  # in
        now - timedelta(hours=3),  # in
        now,  # in
        now + timedelta(seconds=1),  # not yet: out
        now - timedelta(days=3),  # out
    ]
    assert POLICY.repeats(starts, now) == 3


@MODERATE
@given(st.lists(st.integers(-3 * 86_400, 3_600), max_size=20))
def test_repeats_are_the_cooldowns_started_in_the_last_day(offsets: list[int]) -> None:
    now = T0 + timedelta(days=5)
    starts = [now + timedelta(seconds=s) for s in offsets]
    assert POLICY.repeats(starts, now) == sum(1 for s in offsets if -86_400 < s <= 0)


# --- the score ---------------------------------------------------------------------------


def marks_at(
    texts: list[str], start: datetime = T0, every: timedelta = timedelta(seconds=1)
) -> list[InboundMark]:
    return [mark(start + every * i, text) for i, text in enumerate(texts)]


def test_a_repeated_text_counts_half_a_message_more() -> None:
    distinct = flood_score(marks_at([f"msg {i}" for i in range(6)]), T0 + timedelta(seconds=5), 60)
    repeated = flood_score(marks_at(["oi"] * 6), T0 + timedelta(seconds=5), 60)

    assert distinct.score == 6
    assert repeated.score == 1 + 5 * (1 + REPEAT_WEIGHT) == 8.5
    assert repeated.messages == distinct.messages == 6
    assert POLICY.level(distinct.score) is None
    assert POLICY.level(repeated.score) is FloodLevel.LIGHT


def test_case_and_spacing_do_not_make_a_text_another_text() -> None:
    score = flood_score(marks_at(["Oi", "oi ", "  OI", "o i"]), T0 + timedelta(seconds=3), 60)
    assert score.score == 1 + 2 * 1.5 + 1  # "o i" is another text


def test_messages_outside_the_window_do_not_count() -> None:
    latest = T0 + timedelta(minutes=10)
    marks = [
        mark(latest - timedelta(seconds=60), "a"),  # the window's open end: out
        mark(latest - timedelta(seconds=59), "b"),
        mark(latest, "c"),
        mark(latest + timedelta(seconds=1), "d"),  # after the latest: out
        mark(latest - timedelta(hours=1), "a"),
    ]
    score = flood_score(marks, latest, 60)
    assert (score.score, score.messages) == (2, 2)


def test_a_text_repeated_only_outside_the_window_is_not_a_repeat() -> None:
    latest = T0 + timedelta(minutes=10)
    marks = [mark(latest - timedelta(minutes=5), "oi"), mark(latest, "oi")]
    assert flood_score(marks, latest, 60).score == 1


mark_strategy = st.builds(
    mark,
    st.integers(-300, 300).map(lambda s: T0 + timedelta(seconds=s)),
    st.sampled_from(["oi", "OI", "olá", "preço?", "quanto custa", " Oi "]),
)


@MODERATE
@given(st.lists(mark_strategy, max_size=40), st.randoms(use_true_random=False))
def test_the_score_depends_on_the_window_only_not_on_order(
    marks: list[InboundMark], random: Random
) -> None:
    shuffled = list(marks)
    random.shuffle(shuffled)
    inside = [m for m in marks if T0 - timedelta(seconds=60) < m.at <= T0]
    score = flood_score(marks, T0, 60)

    assert flood_score(shuffled, T0, 60) == score
    assert flood_score(inside, T0, 60) == score
    assert score.messages == len(inside)
    distinct = len({m.digest for m in inside})
    assert score.score == distinct + (len(inside) - distinct) * (1 + REPEAT_WEIGHT)


# --- as decide_inbound applies it -------------------------------------------------------


def burst(
    world: World, who: str, texts: list[str], every: timedelta = timedelta(seconds=2)
) -> list[Event]:
    """Send `texts` one after the other, `every` apart; the events they recorded."""
    events: list[Event] = []
    for text in texts:
        events += [envelope.event() for envelope in world.receive(who, text).events]
        world.advance(every)
    return events


def test_eight_messages_in_a_minute_are_a_light_flood_and_seven_are_not() -> None:
    world, who = World(), contact("ana")
    seven = burst(world, who, [f"linha {i}" for i in range(7)])
    assert not any(isinstance(e, FloodDetected) for e in seven)

    eighth = burst(world, who, ["linha 7"])
    detected = next(e for e in eighth if isinstance(e, FloodDetected))
    started = next(e for e in eighth if isinstance(e, CooldownStarted))
    assert (detected.level, detected.messages_in_window, detected.score) == (FloodLevel.LIGHT, 8, 8)
    assert (started.duration_minutes, started.repeat) == (5, 0)
    assert started.until == world.now - timedelta(seconds=2) + timedelta(minutes=5)


def test_eight_messages_spread_over_more_than_the_window_are_no_flood() -> None:
    world, who = World(), contact("ana")
    events = burst(world, who, [f"linha {i}" for i in range(8)], every=timedelta(seconds=9))
    assert not any(isinstance(e, FloodDetected) for e in events)


def test_six_identical_messages_flood_where_six_different_ones_do_not() -> None:
    world, who = World(), contact("ana")
    assert any(isinstance(e, FloodDetected) for e in burst(world, who, ["oi"] * 6))

    other, who = World(), contact("bia")
    assert not any(
        isinstance(e, FloodDetected)
        for e in burst(other, who, ["oi", "tudo", "bem", "?", "alo", "ei"])
    )


def test_a_second_flood_within_a_day_doubles_and_after_a_day_does_not() -> None:
    world, who = World(), contact("ana")
    burst(world, who, ["oi"] * 6)
    world.advance(timedelta(minutes=10))  # the 5-minute cooldown is over
    second = burst(world, who, ["oi"] * 6)
    started = next(e for e in second if isinstance(e, CooldownStarted))
    assert (started.repeat, started.duration_minutes) == (1, 10)

    world.advance(timedelta(hours=25))  # a new session, both earlier floods out of the day
    third = burst(world, who, ["oi"] * 6)
    started = next(e for e in third if isinstance(e, CooldownStarted))
    assert (started.repeat, started.duration_minutes) == (0, 5)


def test_a_repeat_carries_over_into_the_next_session() -> None:
    world, who = World(), contact("ana")
    burst(world, who, ["oi"] * 6)
    first = world.current_session(who)
    assert first is not None
    world.advance(timedelta(minutes=10))
    world.command(
        Close(target_session_id=first.session_id, reason="spam", outcome=SessionOutcome.SPAM)
    )

    events = burst(world, who, ["oi"] * 6)
    second = world.current_session(who)
    assert second is not None
    assert second.session_id != first.session_id
    started = next(e for e in events if isinstance(e, CooldownStarted))
    assert (started.repeat, started.duration_minutes) == (1, 10)


def test_a_flood_warning_states_the_cooldown_minutes() -> None:
    world, who = World(), contact("ana")
    events = burst(world, who, ["oi"] * 6)
    warning = next(e for e in events if isinstance(e, OutboundClaimed))
    assert warning.text == world.policy.warning(5)
    assert "5 minutos" in warning.text


def test_six_photos_without_a_caption_weigh_what_six_different_lines_weigh() -> None:
    """An album of six photos is six messages, not one text repeated six times."""
    photos = [mark(T0 + timedelta(seconds=i), None) for i in range(6)]
    lines = [mark(T0 + timedelta(seconds=i), f"linha {i}") for i in range(6)]
    latest = T0 + timedelta(seconds=5)
    assert flood_score(photos, latest, 60) == flood_score(lines, latest, 60)

    world, who = World(), contact("ana")
    for _ in range(6):
        events = world.receive(who, None, type=MessageType.IMAGE).events
        world.advance(timedelta(seconds=5))
    assert "FloodDetected" not in [e.type for e in events]


def test_a_flood_that_goes_on_escalates_its_cooldown_without_a_second_warning() -> None:
    world, who = World(), contact("ana")
    started_at = world.now + timedelta(seconds=7 * 2)  # the eighth message's time

    events = burst(world, who, [f"linha {i}" for i in range(30)])

    levels = [e.level for e in events if isinstance(e, FloodDetected)]
    escalations = [e for e in events if isinstance(e, CooldownEscalated)]
    warnings = [e for e in events if isinstance(e, OutboundClaimed | OutboundSuppressed)]
    assert levels == [FloodLevel.LIGHT, FloodLevel.MEDIUM, FloodLevel.HEAVY]
    assert [e.duration_minutes for e in escalations] == [15, 60]
    assert escalations[-1].until == started_at + timedelta(minutes=60)
    assert len(warnings) == 1
    session = world.current_session(who)
    assert session is not None
    assert session.cooldown is not None
    assert (session.cooldown.level, session.cooldown.until) == (
        FloodLevel.HEAVY, started_at + timedelta(minutes=60),
    )  # fmt: skip
    assert len(session.cooldown_starts) == 1  # an escalation is not a repeat
