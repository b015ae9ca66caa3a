"""Floods on a session: detection, and the cooldown during which nothing is answered
except one neutral warning (an outbound of kind FLOOD_WARNING whose id derives from
`cooldown_id`, so a retry cannot send a second)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, Field

from contracts.envelope import Event
from contracts.vocabulary import EntityId, FloodLevel


class FloodDetected(Event):
    """The contact's flood score crossed a level's threshold over the sliding window."""

    TYPE = "FloodDetected"

    level: FloodLevel
    score: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    messages_in_window: Annotated[int, Field(ge=1)]
    window_seconds: Annotated[int, Field(ge=1)]


class CooldownStarted(Event):
    """`duration_minutes` is the level's base duration, doubled for each repeat within
    24 hours (`repeat`), capped at 6 hours."""

    TYPE = "CooldownStarted"

    cooldown_id: EntityId
    level: FloodLevel
    duration_minutes: Annotated[int, Field(ge=1, le=360)]
    repeat: Annotated[int, Field(ge=0)]
    until: AwareDatetime


class CooldownEnded(Event):
    TYPE = "CooldownEnded"

    cooldown_id: EntityId


class CooldownEscalated(Event):
    """The flood went on during the cooldown and crossed a higher level: the same
    cooldown (no second warning) now lasts as the higher level's would have, from its
    start."""

    TYPE = "CooldownEscalated"

    cooldown_id: EntityId
    level: FloodLevel
    duration_minutes: Annotated[int, Field(ge=1, le=360)]
    until: AwareDatetime
