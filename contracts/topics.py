"""The bus's topics and the subscriptions that read them: one name each, shared by the
ingress that publishes, the workers that consume and the bootstrap that declares."""

from __future__ import annotations

INBOUND_TOPIC = "inbound"
"""The webhook's messages and statuses."""
COMMANDS_TOPIC = "commands"
"""Operators' commands, once durable."""
EVENTS_TOPIC = "events"
"""Everything appended to the event store, published after the append."""

CONVERSATION_SUBSCRIPTION = "conversation-worker"
COMMANDS_SUBSCRIPTION = "command-worker"
SENDER_SUBSCRIPTION = "outbound-sender"
PROJECTOR_SUBSCRIPTION = "projector"

SUBSCRIPTIONS = {
    CONVERSATION_SUBSCRIPTION: INBOUND_TOPIC,
    COMMANDS_SUBSCRIPTION: COMMANDS_TOPIC,
    SENDER_SUBSCRIPTION: EVENTS_TOPIC,
    PROJECTOR_SUBSCRIPTION: EVENTS_TOPIC,
}
"""Subscription → topic: what `switchboard serve` and the workers declare."""
