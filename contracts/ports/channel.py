"""The `Channel` port: how a message reaches the customer (WhatsApp's Graph API, or the
local sandbox).

A send has three outcomes and the sender records each differently: `Sent` (WhatsApp
took it), `Refused` (definitively not sent: nothing reached the customer), and
`Ambiguous` (it may or may not have gone out: an operator decides, nothing resends
it). Transient refusals (rate limits) are retried inside the adapter; what comes out
is final.

Every adapter passes `tests/contract/test_channel.py` unchanged.
"""

from __future__ import annotations

from typing import Annotated, Protocol, Self

from pydantic import StringConstraints, model_validator

from contracts.frozen import Frozen
from contracts.vocabulary import Diagnostic, WhatsAppErrorCode

WINDOW_CLOSED_CODE = 131047
"""WhatsApp's "re-engagement message": more than 24 hours since the customer wrote."""


class Recipient(Frozen):
    """Who to write to: a phone number in E.164, or WhatsApp's business-scoped user id
    for a user known only by it. Held in memory for one send, never recorded."""

    phone: Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")] | None = None
    user_id: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None

    @model_validator(mode="after")
    def _has_an_address(self) -> Self:
        if self.phone is None and self.user_id is None:
            raise ValueError("a recipient needs a phone number or a user id")
        return self


class Sent(Frozen):
    wa_message_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class Refused(Frozen):
    error_code: WhatsAppErrorCode | None = None
    reason: Diagnostic


class Ambiguous(Frozen):
    reason: Diagnostic


SendOutcome = Sent | Refused | Ambiguous


class Channel(Protocol):
    def send_text(self, business_number_id: str, to: Recipient, text: str) -> SendOutcome:
        """Send `text` from the business line `business_number_id` (Meta's
        `phone_number_id`). Never raises for what the API answers; raises only for a
        programming error."""
        ...
