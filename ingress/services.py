"""What the HTTP edge needs from the rest of the system, handed in by `app/bootstrap.py`
(the ingress imports ports, never adapters)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.ports.bus import Bus
from contracts.ports.eventstore import EventStore
from contracts.ports.operators import OperatorDirectory
from contracts.ports.snapshots import SnapshotStore
from contracts.ports.vault import Vault
from contracts.topics import COMMANDS_TOPIC, INBOUND_TOPIC

__all__ = ["COMMANDS_TOPIC", "INBOUND_TOPIC", "IngressServices"]


@dataclass(frozen=True)
class IngressServices:
    store: EventStore
    bus: Bus
    vault: Vault
    operators: OperatorDirectory
    clock: Callable[[], datetime]
    whatsapp_verify_token: str
    whatsapp_app_secret: bytes
    ready_checks: tuple[Callable[[], None], ...] = ()
    """Each raises when its back end is unreachable (GET /readyz)."""
    snapshots: SnapshotStore | None = None
    """What the read API serves; without it the read endpoints answer 503."""
    console_idle: timedelta = timedelta(minutes=30)
    """A console session unused for this long is over (`CONSOLE_IDLE_MINUTES`)."""
