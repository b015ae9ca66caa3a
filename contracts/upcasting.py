"""Upcasters turn a stored payload of an old schema version into the current one.

Stored events are never rewritten; every back end passes what it reads through
`upcast` before building an `EventEnvelope`, so the rest of the code sees only
current shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function that turns `event_type` payloads of `from_version` into
    `from_version + 1`."""

    def register(fn: Upcaster) -> Upcaster:
        key = (event_type, from_version)
        if key in _UPCASTERS:
            raise ValueError(f"an upcaster for {event_type} v{from_version} exists already")
        _UPCASTERS[key] = fn
        return fn

    return register


def upcast(event_type: str, schema_version: int, payload: Payload) -> tuple[int, Payload]:
    """Apply the registered upcasters in order, one version step at a time."""
    step = _UPCASTERS.get((event_type, schema_version))
    while step is not None:
        payload = step(payload)
        schema_version += 1
        step = _UPCASTERS.get((event_type, schema_version))
    return schema_version, payload
