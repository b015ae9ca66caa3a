"""An outbound's way out (invariant 3) and its delivery statuses: `decide_send` starts a
send at most once, checks the gate again for an automatic message, marks an
interrupted send for an operator; `settle_send` records the channel's answer; and a
status reported by WhatsApp never goes back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.commands import Close, OperatorCommand, PauseAll, Release, SendMessage, TakeOver
from contracts.envelope import Event
from contracts.events import (
    MessageStatusUpdated,
    OutboundFailed,
    OutboundKind,
    OutboundOutcomeUnknown,
    OutboundSendStarted,
    OutboundSent,
    OutboundSuppressed,
    SuppressionReason,
    WhatsAppMessageLinked,
    WhatsAppStatusReported,
)
from contracts.ports.channel import WINDOW_CLOSED_CODE, Ambiguous, Refused, Sent
from contracts.streams import session_stream, wamessage_stream
from contracts.vocabulary import CUSTOMER_WINDOW, MessageStatus, SessionOutcome, WhatsAppStatus
from domain.sending import INTERRUPTED, WINDOW_CLOSED, SendStep, decide_send
from domain.session import Outbound
from domain.status import decide_status, moves_forward
from tests.unit.domain_world import T0, World, contact, hex64, sent_ref, types_of

ANA = contact("ana")
LEASE = timedelta(seconds=90)


def replied() -> tuple[World, str, str]:
    """A world in which the bot's reply to "oi" is claimed: (world, session, outbound)."""
    world = World()
    delivered = world.receive(ANA, "oi")
    assert delivered.recorded is not None
    session_id = delivered.recorded.session_id
    world.answer(session_id)
    [outbound_id] = world.must_session(session_id).outbounds
    return world, session_id, outbound_id


def outbound(world: World, session_id: str, outbound_id: str) -> Outbound:
    return world.must_session(session_id).outbounds[outbound_id]


def only_event(step: SendStep) -> Event:
    [emit] = step.emits
    assert not step.send
    return emit.event


# --- decide_send -------------------------------------------------------------------------


def test_a_claimed_outbound_is_started_once_with_the_versions_the_gate_saw() -> None:
    world, session_id, outbound_id = replied()
    step = world.start_send(session_id, outbound_id)

    assert step.send
    assert [e.event for e in step.emits] == [
        OutboundSendStarted(outbound_id=outbound_id, control_version=0, global_version=0)
    ]
    assert outbound(world, session_id, outbound_id).started_at == T0


def test_a_send_in_progress_is_left_to_its_delivery_until_the_lease_ends() -> None:
    world, session_id, outbound_id = replied()
    world.start_send(session_id, outbound_id)
    world.advance(LEASE - timedelta(seconds=1))

    again = world.start_send(session_id, outbound_id)

    assert again == SendStep([], send=False, in_progress_until=T0 + LEASE)


def test_a_send_started_and_unsettled_past_the_lease_is_unknown_and_never_resent() -> None:
    world, session_id, outbound_id = replied()
    world.start_send(session_id, outbound_id)
    world.advance(LEASE)

    step = world.start_send(session_id, outbound_id)

    assert only_event(step) == OutboundOutcomeUnknown(outbound_id=outbound_id, reason=INTERRUPTED)
    assert outbound(world, session_id, outbound_id).status is MessageStatus.UNKNOWN
    world.advance(timedelta(hours=1))
    assert world.start_send(session_id, outbound_id) == SendStep([], send=False)


@pytest.mark.parametrize(
    "outcome",
    [Sent(wa_message_id="wamid.1"), Refused(error_code=131026, reason="undeliverable")],
)
def test_a_settled_outbound_is_not_sent_again(outcome: Sent | Refused) -> None:
    world, session_id, outbound_id = replied()
    world.start_send(session_id, outbound_id)
    world.settle(session_id, outbound_id, outcome)
    world.advance(LEASE * 2)
    assert world.start_send(session_id, outbound_id) == SendStep([], send=False)


def test_an_outbound_the_session_does_not_know_is_not_sent() -> None:
    world, session_id, _ = replied()
    session = world.must_session(session_id)
    assert decide_send(world.system(), session, "unknown", world.now, LEASE) == SendStep(
        [], send=False
    )


def close_gate(world: World, session_id: str, reason: SuppressionReason) -> None:
    """Make the gate close for `reason` after the claim."""
    plans: dict[SuppressionReason, list[tuple[OperatorCommand, str]]] = {
        SuppressionReason.GLOBAL_PAUSED: [(PauseAll(reason="incident"), "admin")],
        SuppressionReason.HUMAN_TAKEOVER: [
            (TakeOver(target_session_id=session_id, reason="v"), "ana")
        ],
        SuppressionReason.SESSION_CLOSED: [
            (Close(target_session_id=session_id, reason="ok", outcome=SessionOutcome.OTHER), "ana")
        ],
        SuppressionReason.CONTROL_CHANGED: [
            (TakeOver(target_session_id=session_id, reason="v"), "ana"),
            (Release(target_session_id=session_id, reason="v"), "ana"),
        ],
    }
    for command, by in plans.get(reason, []):
        world.command(command, by=by)
    if reason is SuppressionReason.COOLDOWN_ACTIVE:
        for _ in range(6):
            world.receive(ANA, "oi")
            world.advance(timedelta(seconds=1))
    if reason is SuppressionReason.WINDOW_CLOSED:
        world.advance(CUSTOMER_WINDOW)


GATE_REASONS = [
    SuppressionReason.GLOBAL_PAUSED,
    SuppressionReason.HUMAN_TAKEOVER,
    SuppressionReason.SESSION_CLOSED,
    SuppressionReason.CONTROL_CHANGED,
    SuppressionReason.COOLDOWN_ACTIVE,
    SuppressionReason.WINDOW_CLOSED,
]


@pytest.mark.parametrize("reason", GATE_REASONS)
def test_a_reply_is_stopped_at_send_time_when_the_gate_closed_after_its_claim(
    reason: SuppressionReason,
) -> None:
    world, session_id, outbound_id = replied()
    close_gate(world, session_id, reason)

    step = world.start_send(session_id, outbound_id)

    assert only_event(step) == OutboundSuppressed(
        outbound_id=outbound_id, reason=reason, detail="stopped before its send"
    )
    stopped = outbound(world, session_id, outbound_id)
    assert stopped.suppressed
    assert stopped.settled
    assert stopped.started_at is None
    assert world.start_send(session_id, outbound_id) == SendStep([], send=False)


def flood_warning(world: World) -> tuple[str, str]:
    for _ in range(6):
        delivered = world.receive(ANA, "oi")
        world.advance(timedelta(seconds=1))
    assert delivered.recorded is not None
    session_id = delivered.recorded.session_id
    [(outbound_id, warning)] = world.must_session(session_id).outbounds.items()
    assert warning.kind is OutboundKind.FLOOD_WARNING
    return session_id, outbound_id


def test_the_flood_warning_goes_out_during_its_cooldown() -> None:
    world = World()
    session_id, outbound_id = flood_warning(world)
    assert world.must_session(session_id).in_cooldown(world.now)
    assert world.start_send(session_id, outbound_id).send


def test_the_flood_warning_is_stopped_by_a_pause_after_its_claim() -> None:
    world = World()
    session_id, outbound_id = flood_warning(world)
    world.command(PauseAll(reason="incident"), by="admin")
    step = world.start_send(session_id, outbound_id)
    assert isinstance(only_event(step), OutboundSuppressed)


def operator_message(world: World) -> tuple[str, str]:
    delivered = world.receive(ANA, "oi")
    assert delivered.recorded is not None
    session_id = delivered.recorded.session_id
    world.command(TakeOver(target_session_id=session_id, reason="vip"), by="ana")
    world.command(SendMessage(target_session_id=session_id, text="Oi, é a Ana"), by="ana")
    [outbound_id] = world.must_session(session_id).outbounds
    return session_id, outbound_id


@pytest.mark.parametrize(
    "reason",
    [
        SuppressionReason.GLOBAL_PAUSED,
        SuppressionReason.CONTROL_CHANGED,  # released to the bot meanwhile
        SuppressionReason.COOLDOWN_ACTIVE,
    ],
)
def test_an_operators_message_is_not_gated(reason: SuppressionReason) -> None:
    world = World()
    session_id, outbound_id = operator_message(world)
    if reason is SuppressionReason.CONTROL_CHANGED:
        world.command(Release(target_session_id=session_id, reason="bot"), by="ana")
    else:
        close_gate(world, session_id, reason)
    step = world.start_send(session_id, outbound_id)
    assert step.send


def test_an_operators_message_fails_when_the_window_closed_before_its_send() -> None:
    world = World()
    session_id, outbound_id = operator_message(world)
    world.advance(CUSTOMER_WINDOW)

    step = world.start_send(session_id, outbound_id)

    assert only_event(step) == OutboundFailed(
        outbound_id=outbound_id, error_code=WINDOW_CLOSED_CODE, reason=WINDOW_CLOSED
    )
    assert outbound(world, session_id, outbound_id).status is MessageStatus.FAILED


# --- settle_send -------------------------------------------------------------------------


def test_a_sent_message_is_recorded_and_linked_to_its_whatsapp_ref() -> None:
    world, session_id, outbound_id = replied()
    world.start_send(session_id, outbound_id)
    events = world.settle(session_id, outbound_id, Sent(wa_message_id="wamid.XYZ"))

    ref = sent_ref("wamid.XYZ")
    assert [(e.stream_id, e.event()) for e in events] == [
        (session_stream(session_id), OutboundSent(outbound_id=outbound_id, wa_message_ref=ref)),
        (
            wamessage_stream(ref),
            WhatsAppMessageLinked(session_id=session_id, outbound_id=outbound_id),
        ),
    ]
    sent = outbound(world, session_id, outbound_id)
    assert (sent.status, sent.wa_message_ref) == (MessageStatus.SENT, ref)


def test_a_refusal_is_a_failure_with_the_channels_code() -> None:
    world, session_id, outbound_id = replied()
    world.start_send(session_id, outbound_id)
    refused = Refused(error_code=131026, reason="message undeliverable")
    events = world.settle(session_id, outbound_id, refused)
    assert [e.event() for e in events] == [
        OutboundFailed(outbound_id=outbound_id, error_code=131026, reason="message undeliverable")
    ]
    assert outbound(world, session_id, outbound_id).status is MessageStatus.FAILED


def test_an_ambiguous_send_is_unknown_for_an_operator() -> None:
    world, session_id, outbound_id = replied()
    world.start_send(session_id, outbound_id)
    events = world.settle(session_id, outbound_id, Ambiguous(reason="timeout after the call"))
    assert [e.event() for e in events] == [
        OutboundOutcomeUnknown(outbound_id=outbound_id, reason="timeout after the call")
    ]
    assert outbound(world, session_id, outbound_id).status is MessageStatus.UNKNOWN
    assert world.start_send(session_id, outbound_id) == SendStep([], send=False)


def test_what_the_channel_says_settles_an_outbound_marked_unknown_by_its_lease() -> None:
    world, session_id, outbound_id = replied()
    world.start_send(session_id, outbound_id)
    world.advance(LEASE)
    world.start_send(session_id, outbound_id)  # another delivery: the lease ran out
    assert outbound(world, session_id, outbound_id).status is MessageStatus.UNKNOWN

    events = world.settle(session_id, outbound_id, Sent(wa_message_id="wamid.slow"))

    assert types_of(events) == ["OutboundSent", "WhatsAppMessageLinked"]
    assert outbound(world, session_id, outbound_id).status is MessageStatus.SENT


# --- statuses ----------------------------------------------------------------------------

RANK = {MessageStatus.SENT: 1, MessageStatus.DELIVERED: 2, MessageStatus.READ: 3}
REPORTED: list[WhatsAppStatus] = [
    MessageStatus.SENT,
    MessageStatus.DELIVERED,
    MessageStatus.READ,
    MessageStatus.FAILED,
]


@pytest.mark.parametrize(
    ("current", "reported", "forward"),
    [
        (MessageStatus.PENDING, MessageStatus.SENT, True),
        (MessageStatus.UNKNOWN, MessageStatus.SENT, True),
        (MessageStatus.UNKNOWN, MessageStatus.FAILED, True),
        (MessageStatus.SENT, MessageStatus.SENT, False),
        (MessageStatus.SENT, MessageStatus.DELIVERED, True),
        (MessageStatus.SENT, MessageStatus.READ, True),
        (MessageStatus.SENT, MessageStatus.FAILED, True),
        (MessageStatus.DELIVERED, MessageStatus.SENT, False),
        (MessageStatus.DELIVERED, MessageStatus.FAILED, False),
        (MessageStatus.READ, MessageStatus.DELIVERED, False),
        (MessageStatus.READ, MessageStatus.FAILED, False),
        (MessageStatus.FAILED, MessageStatus.READ, False),
        (MessageStatus.FAILED, MessageStatus.SENT, False),
    ],
)
def test_a_status_moves_forward_only(
    current: MessageStatus, reported: MessageStatus, forward: bool
) -> None:
    assert moves_forward(current, reported) is forward


def expected_final(reports: list[WhatsAppStatus]) -> MessageStatus:
    """The statuses' meaning, stated without `moves_forward`: FAILED wins if it came
    before anything beyond SENT; otherwise the furthest status reached."""
    for index, status in enumerate(reports):
        if status is MessageStatus.FAILED and all(RANK.get(s, 0) <= 1 for s in reports[:index]):
            return MessageStatus.FAILED
    reached = [s for s in reports if s is not MessageStatus.FAILED]
    return max([MessageStatus.SENT, *reached], key=RANK.__getitem__)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(REPORTED), max_size=10))
def test_any_sequence_of_reports_ends_at_the_furthest_status_and_never_goes_back(
    reports: list[WhatsAppStatus],
) -> None:
    world, session_id, outbound_id = replied()
    world.start_send(session_id, outbound_id)
    world.settle(session_id, outbound_id, Sent(wa_message_id="wamid.1"))
    ref = sent_ref("wamid.1")

    seen = [MessageStatus.SENT]
    for status in reports:
        world.report(ref, status)
        now = outbound(world, session_id, outbound_id).status
        previous = seen[-1]
        if previous is MessageStatus.FAILED:
            assert now is MessageStatus.FAILED  # final
        elif now is MessageStatus.FAILED:
            assert RANK[previous] <= 1  # a late failure only after SENT
        else:
            assert RANK[now] >= RANK[previous]  # never back
        seen.append(now)

    assert seen[-1] is expected_final(reports)
    updates = [
        e for e in world.events(session_stream(session_id)) if isinstance(e, MessageStatusUpdated)
    ]
    assert len(updates) == len({u.status for u in updates})  # each status recorded once


def test_a_status_for_an_outbound_the_session_does_not_know_is_ignored() -> None:
    world, session_id, _ = replied()
    report = WhatsAppStatusReported(wa_message_ref=hex64("x"), status=MessageStatus.READ)
    assert decide_status(world.must_session(session_id), "unknown", report, world.now) == []


def test_a_status_resolves_an_unknown_outcome() -> None:
    world, session_id, outbound_id = replied()
    world.start_send(session_id, outbound_id)
    world.settle(session_id, outbound_id, Ambiguous(reason="timeout"))
    session = world.must_session(session_id)
    report = WhatsAppStatusReported(wa_message_ref=hex64("x"), status=MessageStatus.DELIVERED)
    [emit] = decide_status(session, outbound_id, report, world.now)
    assert isinstance(emit.event, MessageStatusUpdated)
    assert emit.event.status is MessageStatus.DELIVERED
