"""What the workers need from the rest of the system, handed in by `app/bootstrap.py`
(workers import ports, never adapters)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from contracts.ports.bus import Bus
from contracts.ports.channel import Channel
from contracts.ports.eventstore import EventStore
from contracts.ports.responder import Responder
from contracts.ports.snapshots import SnapshotStore
from contracts.ports.vault import Vault
from domain.policy import ConversationPolicy


@dataclass(frozen=True)
class WorkerServices:
    store: EventStore
    bus: Bus
    vault: Vault
    responder: Responder
    channel: Channel
    clock: Callable[[], datetime]
    policy: ConversationPolicy = field(default_factory=ConversationPolicy)
    default_line: str | None = None
    """The business line (`phone_number_id`) to write from when a session's first
    message did not name one."""
    snapshots: SnapshotStore | None = None
    """Where RESUME_ALL finds the sessions touched during the pause; without it (a
    process without projections) nothing answers them until their customer writes."""
