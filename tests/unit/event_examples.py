"""One realistic instance of every event type in the catalogue, for tests that must
cover all of them (a new event type without an example here fails
`test_every_event_type_has_an_example`), and `record`, what the store hands back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.commands import TakeOver
from contracts.content import InteractiveReply, Media, Order, OrderItem, ReplyContext, ReplyKind
from contracts.envelope import Actor, Event, EventEnvelope, NewEvent
from contracts.events import (
    CommandApplied,
    CommandRejected,
    CommandRequested,
    ContactForgotten,
    ContactRegistered,
    ControlChanged,
    CooldownEnded,
    CooldownEscalated,
    CooldownStarted,
    FieldRejectionReason,
    FloodDetected,
    GlobalModeChanged,
    IdentityKind,
    LeadFieldCollected,
    LeadFieldRejected,
    LeadForgotten,
    LeadMarkedReadyForHuman,
    LeadOpened,
    LeadSessionStarted,
    LeadStatusChanged,
    MessageEchoed,
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    MessageStatusUpdated,
    NoteAdded,
    OutboundClaimed,
    OutboundFailed,
    OutboundKind,
    OutboundOutcomeUnknown,
    OutboundSendStarted,
    OutboundSent,
    OutboundSuppressed,
    PhoneRevealed,
    ReplyDrafted,
    ReplyDraftFailed,
    SessionClosed,
    SessionExpired,
    SessionStarted,
    SuppressionReason,
    TokenUsage,
    WaitingSessionsAnswered,
    WebhookPayloadRejected,
    WhatsAppMessageLinked,
    WhatsAppStatusReported,
    WhatsAppStatusUnmatched,
)
from contracts.vocabulary import (
    FieldSource,
    FloodLevel,
    GlobalMode,
    HandoffReason,
    LeadField,
    LeadStatus,
    MessageStatus,
    MessageType,
    Priority,
    SessionMode,
    SessionOutcome,
)

NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)
FROM_HASH = "3f" * 32
WAMID = "d62c9039203ee5a271212966c05fa72d84780bafd28b1a211cd1545774b45124"
"""A message ref (`Vault.message_ref`): events never hold WhatsApp's ids."""

EXAMPLES: list[Event] = [
    SessionStarted(lead_id="lead-1", from_hash=FROM_HASH, business_number_id="106540352242922"),
    MessageReceived(
        wa_message_ref=WAMID,
        from_hash=FROM_HASH,
        type=MessageType.IMAGE,
        body_sanitized="segue o print, meu e-mail é [email]",
        media=Media(media_id="1234567890", mime_type="image/jpeg"),
        context=ReplyContext(
            message_ref="6da0633528deaa0144e7b058315f0b753ec0b945163a72bf96a0d18180f9de0d",
            forwarded=True,
        ),
    ),
    MessageStatusUpdated(
        outbound_id="out-1",
        wa_message_ref=WAMID,
        status=MessageStatus.FAILED,
        error_code=131047,
        error_title="Re-engagement message",
    ),
    ReplyDrafted(
        outbound_id="out-1",
        control_version=0,
        in_reply_to=(WAMID,),
        text="Olá! Qual serviço te interessa?",
        intent="greeting",
        responder="rules",
        latency_ms=12,
        tokens=TokenUsage(prompt_tokens=120, completion_tokens=18),
    ),
    ReplyDraftFailed(
        in_reply_to=(WAMID,),
        responder="openai:gpt-4o-mini",
        error="timed out after 3 attempts",
        attempts=3,
        latency_ms=30_000,
    ),
    OutboundClaimed(
        outbound_id="out-1",
        kind=OutboundKind.REPLY,
        text="Olá! Qual serviço te interessa?",
        to_hash=FROM_HASH,
        control_version=0,
    ),
    OutboundSuppressed(
        outbound_id="out-2",
        reason=SuppressionReason.CONTROL_CHANGED,
        detail="drafted under v0, control at v1",
    ),
    OutboundSendStarted(outbound_id="out-1", control_version=0, global_version=2),
    WhatsAppMessageLinked(session_id="s-1", outbound_id="out-1"),
    OutboundSent(
        outbound_id="out-1",
        wa_message_ref="6776128287ef2cb8ead79828e5b76f6eefbd55378c32a6f8a594785c5e0e5997",
    ),
    OutboundFailed(outbound_id="out-3", error_code=131047, reason="24-hour window closed"),
    OutboundOutcomeUnknown(outbound_id="out-4", reason="send started, no result recorded"),
    ControlChanged(
        mode=SessionMode.HUMAN_TAKEOVER,
        human_assignee="ana",
        reason="cliente pediu atendente",
        version=1,
        by="ana",
    ),
    FloodDetected(level=FloodLevel.MEDIUM, score=14.5, messages_in_window=15, window_seconds=60),
    CooldownStarted(
        cooldown_id="cool-1",
        level=FloodLevel.MEDIUM,
        duration_minutes=30,
        repeat=1,
        until=NOW + timedelta(minutes=30),
    ),
    CooldownEscalated(
        cooldown_id="cool-1",
        level=FloodLevel.HEAVY,
        duration_minutes=120,
        until=NOW + timedelta(minutes=120),
    ),
    CooldownEnded(cooldown_id="cool-1"),
    SessionClosed(
        outcome=SessionOutcome.SELF_SERVE_INFO,
        reason="dúvida respondida",
        note="enviado link da tabela de preços",
        closed_by="ana",
        reopen_blocked_until=NOW + timedelta(hours=24),
    ),
    SessionExpired(last_activity_at=NOW - timedelta(hours=24)),
    NoteAdded(text="ligar amanhã às 10h", by="ana"),
    LeadOpened(from_hash=FROM_HASH, session_id="s-1"),
    LeadSessionStarted(session_id="s-2"),
    LeadStatusChanged(
        status=LeadStatus.QUALIFYING,
        previous_status=LeadStatus.OPEN,
        reason="first qualifying answer",
    ),
    LeadFieldCollected(
        field=LeadField.CITY,
        value="Campinas",
        source=FieldSource.LLM,
        inferred=True,
        confidence=0.92,
        evidence_message_ref=WAMID,
    ),
    LeadFieldRejected(
        field=LeadField.BUDGET_RANGE,
        value="R$ 10-20 mil",
        source=FieldSource.LLM,
        inferred=True,
        confidence=0.41,
        evidence_message_ref=WAMID,
        threshold=0.8,
        reason=FieldRejectionReason.BELOW_THRESHOLD,
    ),
    LeadMarkedReadyForHuman(
        session_id="s-1",
        priority=Priority.HIGH,
        handoff_reason=HandoffReason.USER_REQUESTED,
        detail="pediu para falar com humano",
    ),
    LeadForgotten(by="admin", reason="pedido do titular (LGPD art. 18)"),
    PhoneRevealed(by="admin", reason="retorno por ligação solicitado"),
    CommandRequested(
        command=TakeOver(target_session_id="s-1", reason="cliente VIP", command_id="c-1"),
        requested_by="ana",
        requested_at=NOW,
    ),
    CommandApplied(result="control v0 → v1: HUMAN_TAKEOVER by ana"),
    CommandRejected(reason="control changed since you looked (expected v0, at v1)"),
    WaitingSessionsAnswered(answered=("s-1", "s-2"), suppressed=("s-3",)),
    GlobalModeChanged(
        mode=GlobalMode.PAUSED_GLOBAL, version=1, by="admin", reason="prompt injection"
    ),
    ContactRegistered(identity_kind=IdentityKind.BSUID, has_phone=False),
    ContactForgotten(by="admin", reason="pedido do titular (LGPD art. 18)"),
    MessageReceived(
        wa_message_ref="c3e2d78f3ff335724b4029f06505b511e4f8f01e258828de29849b36b40b55d0",
        from_hash=FROM_HASH,
        type=MessageType.INTERACTIVE,
        body_sanitized="Software sob medida",
        interactive=InteractiveReply(kind=ReplyKind.BUTTON_REPLY, reply_id="svc-custom"),
        business_number_id="106540352242922",
    ),
    MessageReceived(
        wa_message_ref="0b1f5c7e9a2d4f6e8c1a3b5d7f9e2c4a6b8d0f1e3c5a7b9d2f4e6c8a0b1d3f5e",
        from_hash=FROM_HASH,
        type=MessageType.ORDER,
        body_sanitized="entregar na portaria",
        order=Order(
            catalog_id="1537312090392347",
            items=(
                OrderItem(
                    product_retailer_id="plano-pro", quantity=2, item_price=99.9, currency="BRL"
                ),
            ),
        ),
        business_number_id="106540352242922",
    ),
    MessageRevoked(
        wa_message_ref="5e2a4c6e8a0c2e4a6c8e0a2c4e6a8c0e2a4c6e8a0c2e4a6c8e0a2c4e6a8c0e2a",
        from_hash=FROM_HASH,
        original_ref=WAMID,
        business_number_id="106540352242922",
    ),
    MessageEdited(
        wa_message_ref="7a9c1e3a5c7e9a1c3e5a7c9e1a3c5e7a9c1e3a5c7e9a1c3e5a7c9e1a3c5e7a9c",
        from_hash=FROM_HASH,
        original_ref=WAMID,
        body_sanitized="segue o print certo",
        business_number_id="106540352242922",
    ),
    WhatsAppStatusReported(
        wa_message_ref="6776128287ef2cb8ead79828e5b76f6eefbd55378c32a6f8a594785c5e0e5997",
        status=MessageStatus.FAILED,
        to_hash=FROM_HASH,
        error_code=131047,
        error_title="Re-engagement message",
        business_number_id="106540352242922",
    ),
    MessageEchoed(
        wa_message_ref="0b5a2f6c6e4d1c8a9b7e3f2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b",
        to_hash=FROM_HASH,
        type=MessageType.TEXT,
        body_sanitized="Oi, aqui é a Ana da loja: te mando o orçamento já já",
        business_number_id="106540352242922",
    ),
    WhatsAppStatusUnmatched(status=MessageStatus.READ, business_number_id="106540352242922"),
    WebhookPayloadRejected(
        reason="not JSON: Expecting value at line 1 column 1",
        body_sha256="9f" * 32,
        size_bytes=17,
        sealed_body="ZGV2MQAAAAAAAAAAAAAAAGNpcGhlcnRleHQ=",
        kept_bytes=17,
    ),
]


def record(event: Event, stream_id: str = "session-s1", version: int = 1) -> EventEnvelope:
    """What the store hands back for `event`: envelope fields added, payload as JSON."""
    new = NewEvent.of(
        event,
        event_id="e-1",
        occurred_at=NOW,
        actor=Actor.SYSTEM,
        correlation_id="corr-1",
        causation_id="cause-1",
    )
    envelope = EventEnvelope(
        **new.model_dump(), stream_id=stream_id, version=version, recorded_at=NOW
    )
    return EventEnvelope.from_json(envelope.to_json())
