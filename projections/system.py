"""`system_controls/global`: the kill switch, as every operator sees it."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.events import GlobalModeChanged
from contracts.ports.snapshots import Document, Put, Write
from contracts.snapshots.system import SystemControl
from contracts.streams import SYSTEM_STREAM
from projections.projection import Recorded

SYSTEM_CONTROLS = "system_controls"
GLOBAL = "global"


class SystemProjection:
    name = "system"
    collections = (SYSTEM_CONTROLS,)

    def handles(self, stream_id: str) -> bool:
        return stream_id == SYSTEM_STREAM

    def fold(self, state: Document, events: Sequence[Recorded]) -> tuple[Document, list[Write]]:
        control: SystemControl | None = None
        for recorded in events:
            event = recorded.event
            if isinstance(event, GlobalModeChanged):
                control = SystemControl(
                    mode=event.mode, version=event.version,
                    updated_at=recorded.envelope.occurred_at, by=event.by, reason=event.reason,
                )  # fmt: skip
        if control is None:
            return state, []
        document = control.model_dump(mode="json")  # updated_at: when the mode changed
        return document, [Put(SYSTEM_CONTROLS, GLOBAL, document)]
