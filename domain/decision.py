"""What a decision returns: events to append, each on its stream, with who caused it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from contracts.envelope import Actor, Event


class Rejected(Exception):
    """A command that cannot be applied, with the reason the operator reads."""


@dataclass(frozen=True)
class Emit:
    """One event to append. Its id derives from the input's id and `key` (the event's
    type unless a decision emits that type twice), so deciding again on the same
    input appends nothing new."""

    stream_id: str
    event: Event
    actor: Actor
    occurred_at: datetime
    key: str = ""

    @property
    def name(self) -> str:
        return self.key or self.event.TYPE
