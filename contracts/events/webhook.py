"""What the webhook keeps when it cannot read a body Meta signed. Stream
`deadletter-<first 40 hex of the body's SHA-256>`.

Meta retries any non-200 answer for days, so a signed body that is not JSON, or not a
shape this code knows, is acknowledged and kept here for operators rather than
refused. The body may hold phone numbers: it is kept only sealed by the vault."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from contracts.envelope import Event
from contracts.vocabulary import Diagnostic


class WebhookPayloadRejected(Event):
    """Its event id derives from the body's digest, so a redelivery appends nothing."""

    TYPE = "WebhookPayloadRejected"

    reason: Diagnostic
    """Why the body was not read: never a part of the body itself."""
    body_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    size_bytes: Annotated[int, Field(ge=0)]
    sealed_body: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]*={0,2}$")]
    """base64 of the vault's sealed (authenticated, encrypted) first `kept_bytes` of the
    body; only the vault can open it."""
    kept_bytes: Annotated[int, Field(ge=0)]
    """How much of the body is sealed: all of it unless it exceeds what one stored
    event may hold."""
