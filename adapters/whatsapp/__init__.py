"""The `Channel` adapters: WhatsApp's Graph API, and a local sandbox for running
without credentials."""

from adapters.whatsapp.graph import GraphChannel
from adapters.whatsapp.sandbox import SandboxChannel, SandboxMessage, read_outbox

__all__ = ["GraphChannel", "SandboxChannel", "SandboxMessage", "read_outbox"]
