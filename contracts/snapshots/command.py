"""`commands/{command_id}`: what `GET /api/commands/{id}` answers."""

from __future__ import annotations

from typing import Self

from pydantic import AwareDatetime, model_validator

from contracts.commands import CommandStatus, CommandType
from contracts.frozen import Frozen
from contracts.vocabulary import Diagnostic, EntityId, OperatorId, Reason


class Command(Frozen):
    command_id: EntityId
    type: CommandType
    target_session_id: EntityId | None = None
    """None for PAUSE_ALL and RESUME_ALL."""
    reason: Reason | None = None
    requested_by: OperatorId
    requested_at: AwareDatetime
    status: CommandStatus = CommandStatus.PENDING
    result: Diagnostic | None = None
    """What was applied, or why it was rejected."""
    decided_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _decided_exactly_when_not_pending(self) -> Self:
        pending = self.status is CommandStatus.PENDING
        if pending != (self.result is None) or pending != (self.decided_at is None):
            raise ValueError("result and decided_at are set exactly when the command is decided")
        return self
