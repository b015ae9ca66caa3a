"""A session's life as `decide_inbound` and `decide_reply` lead it: opened by the first
message, expired by a quiet spell, kept closed while reopening is blocked, in and out
of cooldown; and which customer messages are still waiting for an answer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.commands import Close, MarkReadyForHuman, PauseAll, TakeOver
from contracts.envelope import Actor
from contracts.events import (
    CooldownEnded,
    CooldownStarted,
    LeadOpened,
    LeadSessionStarted,
    LeadStatusChanged,
    MessageReceived,
    OutboundClaimed,
    OutboundKind,
    OutboundSuppressed,
    ReplyDrafted,
    SessionExpired,
    SessionStarted,
    SuppressionReason,
)
from contracts.ports.responder import Turn
from contracts.streams import lead_stream, session_stream
from contracts.vocabulary import (
    CUSTOMER_WINDOW,
    LeadStatus,
    MessageType,
    SessionMode,
    SessionOutcome,
)
from domain.ids import lead_id_for, session_id_for
from domain.inbound import UNKNOWN_LINE, Inbound, decide_inbound
from domain.session import UNANSWERED_TYPES
from domain.system import System
from tests.unit.domain_world import T0, Delivered, World, contact, hex64, message, types_of

TTL = timedelta(hours=24)
ANA = contact("ana")


def session_of(delivered: Delivered) -> str:
    assert delivered.recorded is not None, "the message was recorded before"
    return delivered.recorded.session_id


def answerable(delivered: Delivered) -> bool:
    assert delivered.recorded is not None
    return delivered.recorded.answerable


# --- opening -----------------------------------------------------------------------------


def test_the_first_message_opens_a_lead_and_a_session() -> None:
    world = World()
    delivered = world.receive(ANA, "oi, quanto custa?")

    session_id = session_of(delivered)
    lead_id = lead_id_for(ANA)
    assert session_id == session_id_for(delivered.input_id)
    assert answerable(delivered)
    assert types_of(world.read(session_stream(session_id))) == ["SessionStarted", "MessageReceived"]
    assert types_of(world.read(lead_stream(lead_id))) == ["LeadOpened"]
    session = world.must_session(session_id)
    assert (session.mode, session.control_version, session.lead_id) == (
        SessionMode.LLM_ACTIVE,
        0,
        lead_id,
    )
    assert session.pending_refs() == (delivered.ref,)
    assert session.last_inbound_at == T0
    lead = world.must_lead(lead_id)
    assert (lead.status, lead.session_id, lead.from_hash) == (LeadStatus.OPEN, session_id, ANA)


def test_a_first_message_that_names_no_line_opens_a_session_on_the_unknown_line() -> None:
    inbound = Inbound("in-1", message(ANA, hex64("m"), business_number_id=None), T0)
    recorded = decide_inbound(None, None, System(), inbound, T0, World().policy)
    started = next(e.event for e in recorded.emits if isinstance(e.event, SessionStarted))
    assert started.business_number_id == UNKNOWN_LINE


def test_a_message_within_the_ttl_stays_in_the_session() -> None:
    world = World()
    first = world.receive(ANA)
    world.advance(TTL - timedelta(seconds=1))
    second = world.receive(ANA, "ainda aí?")

    assert session_of(second) == session_of(first)
    assert types_of(second.events) == ["MessageReceived"]


# --- expiry ------------------------------------------------------------------------------


def test_a_message_after_the_ttl_expires_the_session_and_opens_another() -> None:
    world = World()
    first = world.receive(ANA)
    world.advance(TTL)
    second = world.receive(ANA, "voltei")

    old, new = session_of(first), session_of(second)
    assert new != old
    assert sorted((e.stream_id, e.type) for e in second.events) == sorted(
        [
            (session_stream(old), "SessionExpired"),
            (session_stream(new), "SessionStarted"),
            (session_stream(new), "MessageReceived"),
            (lead_stream(lead_id_for(ANA)), "LeadSessionStarted"),
        ]
    )
    expired = world.must_session(old)
    assert expired.expired
    assert expired.ended
    assert expired.pending == ()  # set aside, never answered
    assert world.must_lead(lead_id_for(ANA)).session_id == new
    assert world.must_session(new).pending_refs() == (second.ref,)


def test_the_ttl_counts_from_the_last_message_either_way() -> None:
    world = World()
    first = world.receive(ANA)
    world.advance(timedelta(hours=23))
    world.answer(session_of(first))  # the bot's reply is activity too
    world.advance(timedelta(hours=2))
    second = world.receive(ANA)
    assert session_of(second) == session_of(first)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (LeadStatus.CLOSED, LeadStatus.OPEN),
        (LeadStatus.IN_HUMAN, LeadStatus.QUALIFYING),
    ],
)
def test_a_new_session_puts_the_bot_back_in_charge_of_the_lead(
    before: LeadStatus, after: LeadStatus
) -> None:
    world = World()
    session_id = session_of(world.receive(ANA))
    if before is LeadStatus.CLOSED:
        command: Close | TakeOver = Close(
            target_session_id=session_id, reason="ok", outcome=SessionOutcome.OTHER
        )
    else:
        command = TakeOver(target_session_id=session_id, reason="vip")
    world.command(command)
    assert world.must_lead(lead_id_for(ANA)).status is before

    world.advance(TTL)
    second = world.receive(ANA, "oi de novo")

    changed = [e.event() for e in second.events if e.type == "LeadStatusChanged"]
    assert changed == [
        LeadStatusChanged(status=after, previous_status=before, reason="a new session started")
    ]
    assert world.must_lead(lead_id_for(ANA)).status is after
    new = world.must_session(session_of(second))
    assert (new.mode, new.control_version, new.assignee) == (SessionMode.LLM_ACTIVE, 0, None)


@pytest.mark.parametrize("status", [LeadStatus.QUALIFYING, LeadStatus.READY_FOR_HUMAN])
def test_a_new_session_leaves_other_lead_statuses_alone(status: LeadStatus) -> None:
    world = World()
    session_id = session_of(world.receive(ANA))
    world.answer(session_id)  # OPEN → QUALIFYING
    if status is LeadStatus.READY_FOR_HUMAN:
        world.command(MarkReadyForHuman(target_session_id=session_id, reason="orçamento"))
    assert world.must_lead(lead_id_for(ANA)).status is status

    world.advance(TTL)
    second = world.receive(ANA)
    assert "LeadStatusChanged" not in types_of(second.events)
    assert world.must_lead(lead_id_for(ANA)).status is status


# --- closed, and blocked from reopening --------------------------------------------------


def test_a_closed_session_keeps_logging_until_reopening_is_allowed() -> None:
    world = World()
    session_id = session_of(world.receive(ANA))
    closed = Close(
        target_session_id=session_id,
        reason="spam",
        outcome=SessionOutcome.SPAM,
        reopen_cooldown_minutes=60,
    )
    world.command(closed)
    blocked_until = world.must_session(session_id).reopen_blocked_until
    assert blocked_until == T0 + timedelta(minutes=60)

    world.advance(timedelta(minutes=59, seconds=59))
    during = world.receive(ANA, "alô?")
    assert session_of(during) == session_id
    assert not answerable(during)
    assert types_of(during.events) == ["MessageReceived"]
    closed_session = world.must_session(session_id)
    assert closed_session.inbound_count == 2
    assert closed_session.pending == ()  # logged, never answered
    assert closed_session.history[-1] == Turn(actor=Actor.USER, text="alô?")

    world.advance(timedelta(seconds=1))
    after = world.receive(ANA, "alô??")
    assert session_of(after) != session_id
    assert answerable(after)
    assert "SessionExpired" not in types_of(after.events)  # closed is ended already
    assert world.must_lead(lead_id_for(ANA)).status is LeadStatus.OPEN


def test_a_session_closed_without_a_block_reopens_on_the_next_message() -> None:
    world = World()
    session_id = session_of(world.receive(ANA))
    world.command(Close(target_session_id=session_id, reason="ok", outcome=SessionOutcome.OTHER))
    world.advance(timedelta(seconds=1))
    assert session_of(world.receive(ANA)) != session_id


# --- cooldown ----------------------------------------------------------------------------


def flood(world: World, who: str = ANA, count: int = 6) -> Delivered:
    delivered = None
    for _ in range(count):
        delivered = world.receive(who, "oi")
        world.advance(timedelta(seconds=1))
    assert delivered is not None
    return delivered


def test_a_cooldown_ends_lazily_on_the_first_message_after_it() -> None:
    world = World()
    flooded = flood(world)
    session_id = session_of(flooded)
    assert "CooldownStarted" in types_of(flooded.events)
    cooldown = world.must_session(session_id).cooldown
    assert cooldown is not None

    world.now = cooldown.until - timedelta(seconds=1)
    during = world.receive(ANA, "desculpa")
    assert not answerable(during)
    assert types_of(during.events) == ["MessageReceived"]
    assert world.must_session(session_id).in_cooldown(world.now)

    world.now = cooldown.until + timedelta(minutes=30)
    assert world.must_session(session_id).cooldown is not None  # nothing ends it by itself
    after = world.receive(ANA, "posso falar?")
    assert answerable(after)
    assert types_of(after.events) == ["CooldownEnded", "MessageReceived"]
    assert after.events[0].event() == CooldownEnded(cooldown_id=cooldown.cooldown_id)
    assert world.must_session(session_id).cooldown is None


def test_messages_during_a_cooldown_are_logged_but_never_answered() -> None:
    world = World()
    session_id = session_of(flood(world))
    cooldown = world.must_session(session_id).cooldown
    assert cooldown is not None
    world.receive(ANA, "ei")
    world.receive(ANA, "responde")
    during = world.must_session(session_id)
    assert during.pending == ()
    assert [t.text for t in during.history[-2:]] == ["ei", "responde"]

    world.now = cooldown.until
    after = world.receive(ANA, "bom dia")
    claimed = world.answer(session_of(after))
    assert claimed is not None
    drafted = next(e.event() for e in claimed if e.type == "ReplyDrafted")
    assert isinstance(drafted, ReplyDrafted)
    assert drafted.in_reply_to == (after.ref,)  # the first reply after it: only the new one


def test_a_cooldown_ends_at_exactly_its_until() -> None:
    world = World()
    session_id = session_of(flood(world))
    cooldown = world.must_session(session_id).cooldown
    assert cooldown is not None
    world.now = cooldown.until
    assert types_of(world.receive(ANA).events) == ["CooldownEnded", "MessageReceived"]


def test_a_flood_sets_aside_what_was_pending_and_sends_one_warning() -> None:
    world = World()
    flooded = flood(world)
    session = world.must_session(session_of(flooded))
    assert session.pending == ()
    kinds = [outbound.kind for outbound in session.outbounds.values()]
    assert kinds == [OutboundKind.FLOOD_WARNING]
    claims = [e for e in flooded.events if e.type == "OutboundClaimed"]
    assert [e.actor for e in claims] == [Actor.SYSTEM]
    warning = claims[0].event()
    assert isinstance(warning, OutboundClaimed)
    assert warning.control_version == session.control_version


# --- what is pending ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(UNANSWERED_TYPES))
def test_reactions_and_system_notices_are_never_pending(kind: MessageType) -> None:
    world = World()
    delivered = world.receive(ANA, None, type=kind)
    session = world.must_session(session_of(delivered))
    assert not answerable(delivered)
    assert session.pending == ()
    assert session.history == (Turn(actor=Actor.USER, text=f"[{kind.value}]"),)
    assert world.answer(session.session_id) is None  # nothing to answer


answered_types = st.sampled_from(
    [MessageType.TEXT, MessageType.IMAGE, MessageType.INTERACTIVE, MessageType.AUDIO]
)


@settings(max_examples=100, deadline=None)
@given(st.lists(answered_types | st.sampled_from(sorted(UNANSWERED_TYPES)), max_size=7))
def test_pending_holds_exactly_the_messages_that_call_for_an_answer(
    kinds: list[MessageType],
) -> None:
    world = World()
    refs = []
    for kind in kinds:
        delivered = world.receive(ANA, "ok", type=kind)
        refs.append((delivered.ref, kind))
        world.advance(timedelta(seconds=30))
    session = world.current_session(ANA)
    expected = tuple(ref for ref, kind in refs if kind not in UNANSWERED_TYPES)
    assert (session.pending_refs() if session else ()) == expected


def test_a_superseded_draft_keeps_the_messages_pending_for_the_next() -> None:
    world = World()
    first = world.receive(ANA, "oi")
    session_id = session_of(first)
    early = world.draft(session_id)
    world.advance(timedelta(seconds=1))
    second = world.receive(ANA, "quanto custa?")

    suppressed = world.reply(early)
    assert [e.event() for e in suppressed if e.type == "OutboundSuppressed"] == [
        OutboundSuppressed(
            outbound_id=early.made.outbound_id,
            reason=SuppressionReason.SUPERSEDED,
            detail="1 newer message(s) arrived",
        )
    ]
    assert world.must_session(session_id).pending_refs() == (first.ref, second.ref)

    claimed = world.answer(session_id, "Oi! Depende do projeto.")
    assert claimed is not None
    assert "OutboundClaimed" in types_of(claimed)
    session = world.must_session(session_id)
    assert session.pending == ()
    assert [t.text for t in session.history] == ["oi", "quanto custa?", "Oi! Depende do projeto."]


def test_a_draft_for_messages_answered_already_is_superseded_and_changes_nothing() -> None:
    world = World()
    session_id = session_of(world.receive(ANA, "oi"))
    twin = world.draft(session_id, input_id="another-delivery")
    world.answer(session_id)
    before = world.must_session(session_id)

    events = world.reply(twin)
    suppressed = next(e.event() for e in events if e.type == "OutboundSuppressed")
    assert isinstance(suppressed, OutboundSuppressed)
    assert suppressed.reason is SuppressionReason.SUPERSEDED
    after = world.must_session(session_id)
    assert (after.pending, after.history) == (before.pending, before.history)


@pytest.mark.parametrize(
    "reason",
    [
        SuppressionReason.GLOBAL_PAUSED,
        SuppressionReason.CONTROL_CHANGED,
        SuppressionReason.WINDOW_CLOSED,
    ],
)
def test_any_other_suppression_sets_the_messages_aside(reason: SuppressionReason) -> None:
    world = World()
    session_id = session_of(world.receive(ANA, "oi"))
    stale = None
    if reason is SuppressionReason.CONTROL_CHANGED:
        stale = 7  # a draft that names a control the session never had
    drafted = world.draft(session_id, control_version=stale)
    if reason is SuppressionReason.GLOBAL_PAUSED:
        world.command(PauseAll(reason="incident"), by="admin")
    if reason is SuppressionReason.WINDOW_CLOSED:
        world.advance(CUSTOMER_WINDOW)

    events = world.reply(drafted)

    suppressed = next(e.event() for e in events if e.type == "OutboundSuppressed")
    assert isinstance(suppressed, OutboundSuppressed)
    assert suppressed.reason is reason
    session = world.must_session(session_id)
    assert session.pending == ()
    assert [t.text for t in session.history] == ["oi"]
    assert session.outbounds == {}


def test_a_change_of_control_sets_pending_messages_aside() -> None:
    world = World()
    session_id = session_of(world.receive(ANA, "oi"))
    world.command(TakeOver(target_session_id=session_id, reason="vip"))
    session = world.must_session(session_id)
    assert session.pending == ()
    assert [t.text for t in session.history] == ["oi"]


def test_a_draft_for_an_expired_session_is_suppressed_as_closed() -> None:
    world = World()
    session_id = session_of(world.receive(ANA))
    drafted = world.draft(session_id)
    world.advance(TTL)
    world.receive(ANA)  # expires the first session
    events = world.reply(drafted)
    suppressed = next(e.event() for e in events if e.type == "OutboundSuppressed")
    assert isinstance(suppressed, OutboundSuppressed)
    assert suppressed.reason is SuppressionReason.SESSION_CLOSED


def test_the_events_of_a_lifetime_land_on_the_right_streams() -> None:
    world = World()
    first = world.receive(ANA)
    world.advance(TTL)
    second = world.receive(ANA)
    lead = world.events(lead_stream(lead_id_for(ANA)))
    assert [type(e) for e in lead] == [LeadOpened, LeadSessionStarted]
    old = world.events(session_stream(session_of(first)))
    assert [type(e) for e in old] == [SessionStarted, MessageReceived, SessionExpired]
    assert not any(isinstance(e, CooldownStarted) for e in old)
    assert session_of(second) in {e.session_id for e in lead if isinstance(e, LeadSessionStarted)}
