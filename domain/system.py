"""The global kill switch as the `system` stream tells it."""

from __future__ import annotations

from collections.abc import Iterable

from contracts.envelope import EventEnvelope
from contracts.events import GlobalModeChanged
from contracts.frozen import Frozen
from contracts.vocabulary import GlobalMode


class System(Frozen):
    mode: GlobalMode = GlobalMode.LLM_ACTIVE
    control_version: int = 0
    """The version of the last `GlobalModeChanged`; compare-and-set for PAUSE/RESUME."""
    version: int = 0
    """The stream's version."""

    @property
    def paused(self) -> bool:
        return self.mode is GlobalMode.PAUSED_GLOBAL


def fold_system(events: Iterable[EventEnvelope]) -> System:
    system = System()
    for envelope in events:
        event = envelope.event()
        if isinstance(event, GlobalModeChanged):
            changed = {"mode": event.mode, "control_version": event.version}
            system = system.model_copy(update=changed)
        system = system.model_copy(update={"version": envelope.version})
    return system
