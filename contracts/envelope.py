"""The event envelope: what the store records and the bus carries.

An `Event` subclass is the typed payload of one event type. `NewEvent` is what a
caller hands to `EventStore.append`; the store gives it a stream, a version and a
record time and hands back `EventEnvelope`s. Payloads travel as JSON-ready dicts so
that the store never has to know the catalogue; `EventEnvelope.event()` gives the
typed view.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from contracts.upcasting import upcast


class Actor(StrEnum):
    USER = "USER"
    LLM = "LLM"
    HUMAN = "HUMAN"
    SYSTEM = "SYSTEM"


class UnknownEventType(LookupError):
    """A stored event names a type this code does not know."""


class Event(BaseModel):
    """Base of every event payload. Subclasses set `TYPE` and, when they change
    shape, bump `SCHEMA_VERSION` and register an upcaster for the old shape."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    TYPE: ClassVar[str]
    SCHEMA_VERSION: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "TYPE" in cls.__dict__:
            registered = EVENT_TYPES.setdefault(cls.TYPE, cls)
            if registered is not cls:
                raise TypeError(f"event type {cls.TYPE!r} is declared twice")


EVENT_TYPES: dict[str, type[Event]] = {}


def _in_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
"""An aware datetime, held in UTC whatever offset it came with: every back end then
hands back the same instant in the same form, and "per day" is the same day on each."""

_EVENT_ID_NAMESPACE = uuid.UUID("6f1c2a9e-53a4-4c55-9d4e-2f7b1e0c8a31")


def derived_event_id(input_id: str, name: str) -> str:
    """A stable event id for the event `name` caused by the input `input_id`.

    Processing the same input twice yields the same ids, so the store recognises the
    second append as a duplicate and changes nothing.
    """
    return str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"{input_id}\x1f{name}"))


class NewEvent(BaseModel):
    """An event not yet recorded: the store assigns `stream_id`, `version` and
    `recorded_at`."""

    model_config = ConfigDict(frozen=True)

    event_id: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1)
    schema_version: int = Field(ge=1)
    occurred_at: UtcDatetime
    correlation_id: str = Field(min_length=1)
    causation_id: str | None = None
    actor: Actor
    payload: dict[str, Any]

    @classmethod
    def of(
        cls,
        event: Event,
        *,
        event_id: str,
        occurred_at: datetime,
        actor: Actor,
        correlation_id: str,
        causation_id: str | None = None,
    ) -> Self:
        return cls(
            event_id=event_id,
            type=event.TYPE,
            schema_version=event.SCHEMA_VERSION,
            occurred_at=occurred_at,
            correlation_id=correlation_id,
            causation_id=causation_id,
            actor=actor,
            payload=event.model_dump(mode="json"),
        )


class EventEnvelope(BaseModel):
    """A recorded event, as read from the store or received from the bus."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    stream_id: str
    version: int = Field(ge=1)
    type: str
    schema_version: int = Field(ge=1)
    occurred_at: UtcDatetime
    recorded_at: UtcDatetime
    correlation_id: str
    causation_id: str | None = None
    actor: Actor
    payload: dict[str, Any]

    def event(self) -> Event:
        """The typed payload; raises `UnknownEventType` for a type not in the catalogue."""
        try:
            event_type = EVENT_TYPES[self.type]
        except KeyError:
            raise UnknownEventType(f"unknown event type {self.type!r}") from None
        if self.schema_version != event_type.SCHEMA_VERSION:
            raise UnknownEventType(
                f"{self.type} v{self.schema_version} is not the current "
                f"v{event_type.SCHEMA_VERSION} and no upcaster brought it there"
            )
        return event_type.model_validate(self.payload)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        """Decode an envelope from the bus, upcast like one read from the store: a
        message queued before a schema change arrives in the current shape."""
        fields = json.loads(data)
        if isinstance(fields, dict) and isinstance(fields.get("payload"), dict):
            fields["schema_version"], fields["payload"] = upcast(
                fields.get("type", ""), fields.get("schema_version", 0), fields["payload"]
            )
        return cls.model_validate(fields)
