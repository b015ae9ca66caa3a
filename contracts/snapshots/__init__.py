"""The snapshots operators read, one module per collection; rebuilt from events at will."""

from contracts.snapshots.command import Command
from contracts.snapshots.lead import Lead, LeadCollectedField
from contracts.snapshots.messages import MessageLogEntry, StatusChange
from contracts.snapshots.session import SessionControl, SessionState
from contracts.snapshots.system import SystemControl

__all__ = [
    "Command",
    "Lead",
    "LeadCollectedField",
    "MessageLogEntry",
    "SessionControl",
    "SessionState",
    "StatusChange",
    "SystemControl",
]
