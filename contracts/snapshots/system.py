"""`system_controls/global`: the kill switch every gate reads."""

from __future__ import annotations

from pydantic import AwareDatetime

from contracts.frozen import Frozen
from contracts.vocabulary import ControlVersion, GlobalMode, OperatorId, Reason


class SystemControl(Frozen):
    """The defaults are the state before any PAUSE_ALL: the bot may answer."""

    mode: GlobalMode = GlobalMode.LLM_ACTIVE
    version: ControlVersion = 0
    updated_at: AwareDatetime | None = None
    by: OperatorId | None = None
    reason: Reason | None = None
