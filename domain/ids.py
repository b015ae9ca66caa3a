"""Ids derived from inputs, so that deciding again on the same input names the same
session, lead, outbound or cooldown, and appends nothing new."""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("0b7f3c1e-6a2d-4f57-8e0a-5d2c9b41f7a3")


def _derived(kind: str, source: str) -> str:
    return uuid.uuid5(_NAMESPACE, f"{kind}\x1f{source}").hex


def lead_id_for(from_hash: str) -> str:
    """One lead per contact, across sessions."""
    return _derived("lead", from_hash)


def session_id_for(input_id: str) -> str:
    """A session is named after the message that opened it."""
    return _derived("session", input_id)


def outbound_id_for(input_id: str) -> str:
    return _derived("outbound", input_id)


def cooldown_id_for(input_id: str) -> str:
    return _derived("cooldown", input_id)
