"""The outbound gate (invariant 1): may an automatic message go out now?

Checked in the transaction that claims an automatic outbound, and again in the one
that starts its send, each time over the kill switch and the session's control as
they are at that commit. An operator's own message (SEND_MESSAGE) is not automatic
and does not pass here: the command worker checks that the operator holds the
takeover.
"""

from __future__ import annotations

from datetime import datetime

from contracts.events import SuppressionReason
from contracts.vocabulary import SessionMode
from domain.session import Session
from domain.system import System


def closed_because(
    system: System,
    session: Session,
    control_version: int,
    now: datetime,
    *,
    in_cooldown_allowed: bool = False,
) -> SuppressionReason | None:
    """Why an automatic message drafted under `control_version` may not go out, or
    None when the gate is open. `in_cooldown_allowed` is for the one warning a
    cooldown sends."""
    if system.paused:
        return SuppressionReason.GLOBAL_PAUSED
    if session.ended:
        return SuppressionReason.SESSION_CLOSED
    if session.mode is SessionMode.HUMAN_TAKEOVER:
        return SuppressionReason.HUMAN_TAKEOVER
    if session.mode is SessionMode.PAUSED_SESSION:
        return SuppressionReason.SESSION_PAUSED
    if session.control_version != control_version:
        return SuppressionReason.CONTROL_CHANGED
    if session.in_cooldown(now) and not in_cooldown_allowed:
        return SuppressionReason.COOLDOWN_ACTIVE
    if not session.window_open(now):
        return SuppressionReason.WINDOW_CLOSED
    return None
