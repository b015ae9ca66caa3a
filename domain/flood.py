"""The flood policy: how hard a contact is writing, and how long the cooldown it earns.

The score counts the contact's messages in a sliding window (by WhatsApp's timestamps,
so a redelivery or a replay scores the same), and a repeated text counts half a
message more: twenty "oi" in a minute are a heavier flood than twenty different lines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import Field

from contracts.frozen import Frozen
from contracts.vocabulary import FloodLevel

REPEAT_WEIGHT = 0.5
"""What a text identical to one earlier in the window adds beyond its own 1."""


LEVEL_RANK = {FloodLevel.LIGHT: 1, FloodLevel.MEDIUM: 2, FloodLevel.HEAVY: 3}


class FloodPolicy(Frozen):
    window_seconds: Annotated[int, Field(ge=1, le=3600)] = 60
    light_score: Annotated[float, Field(gt=0)] = 8
    medium_score: Annotated[float, Field(gt=0)] = 15
    heavy_score: Annotated[float, Field(gt=0)] = 30
    light_minutes: Annotated[int, Field(ge=1)] = 5
    medium_minutes: Annotated[int, Field(ge=1)] = 15
    heavy_minutes: Annotated[int, Field(ge=1)] = 60
    repeat_window_hours: Annotated[int, Field(ge=1)] = 24
    max_minutes: Annotated[int, Field(ge=1, le=360)] = 360

    def level(self, score: float) -> FloodLevel | None:
        if score >= self.heavy_score:
            return FloodLevel.HEAVY
        if score >= self.medium_score:
            return FloodLevel.MEDIUM
        if score >= self.light_score:
            return FloodLevel.LIGHT
        return None

    def base_minutes(self, level: FloodLevel) -> int:
        return {
            FloodLevel.LIGHT: self.light_minutes,
            FloodLevel.MEDIUM: self.medium_minutes,
            FloodLevel.HEAVY: self.heavy_minutes,
        }[level]

    def cooldown_minutes(self, level: FloodLevel, repeat: int) -> int:
        """The level's base, doubled for each earlier cooldown in the repeat window,
        capped at `max_minutes`."""
        doubled = self.base_minutes(level) << min(repeat, 16)
        return min(doubled, self.max_minutes)

    def repeats(self, earlier_starts: Iterable[datetime], now: datetime) -> int:
        since = now - timedelta(hours=self.repeat_window_hours)
        return sum(1 for started in earlier_starts if since < started <= now)


class InboundMark(Frozen):
    """What the flood score needs to remember of one inbound message."""

    at: datetime
    digest: str


def mark(at: datetime, text: str | None) -> InboundMark:
    """A message without text (a photo, an audio, a reaction) has no digest: it is
    never a repeat of another."""
    normalised = " ".join((text or "").casefold().split())
    digest = hashlib.sha256(normalised.encode()).hexdigest()[:16] if normalised else ""
    return InboundMark(at=at, digest=digest)


class FloodScore(Frozen):
    score: float
    messages: int


def flood_score(marks: Iterable[InboundMark], latest: datetime, window_seconds: int) -> FloodScore:
    """The score of the messages in the `window_seconds` up to `latest`."""
    since = latest - timedelta(seconds=window_seconds)
    in_window = sorted((m for m in marks if since < m.at <= latest), key=lambda m: m.at)
    seen: set[str] = set()
    score = 0.0
    for each in in_window:
        score += 1 + (REPEAT_WEIGHT if each.digest and each.digest in seen else 0)
        seen.add(each.digest)
    return FloodScore(score=score, messages=len(in_window))
