"""Who may speak: a session's control (stream `session-<id>`) and the global kill
switch (stream `system`). Every change bumps a version, which is what the outbound gate
compares."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, model_validator

from contracts.envelope import Event
from contracts.vocabulary import GlobalMode, OperatorId, Reason, SessionMode

ChangedVersion = Annotated[int, Field(ge=1)]


class ControlChanged(Event):
    """A session's control moved to `mode`, now at `version`. `by` is None when the
    system changed it."""

    TYPE = "ControlChanged"

    mode: SessionMode
    human_assignee: OperatorId | None = None
    reason: Reason
    version: ChangedVersion
    by: OperatorId | None = None

    @model_validator(mode="after")
    def _a_takeover_has_an_assignee(self) -> Self:
        if (self.mode is SessionMode.HUMAN_TAKEOVER) != (self.human_assignee is not None):
            raise ValueError("human_assignee is set exactly when mode is HUMAN_TAKEOVER")
        return self


class GlobalModeChanged(Event):
    """PAUSE_ALL / RESUME_ALL: no automatic outbound anywhere while `PAUSED_GLOBAL`."""

    TYPE = "GlobalModeChanged"

    mode: GlobalMode
    version: ChangedVersion
    by: OperatorId | None = None
    reason: Reason
