"""What WhatsApp tells us: the customer's messages, what they later did to them
(deleted, edited), the delivery statuses of ours, and the echoes of messages a person
sent from the WhatsApp Business app.

`MessageReceived`, `MessageRevoked`, `MessageEdited`, `MessageEchoed` and
`WhatsAppStatusReported` are what the webhook publishes on the `inbound` topic; all but
the last are recorded on a session's stream, and `MessageStatusUpdated` too;
`WhatsAppStatusUnmatched` on a `wamessage-<ref>` stream."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, StringConstraints, model_validator

from contracts.content import (
    InteractiveReply,
    Location,
    Media,
    Order,
    Reaction,
    Referral,
    ReplyContext,
)
from contracts.envelope import Event
from contracts.vocabulary import (
    ContactHash,
    Diagnostic,
    EntityId,
    MessageType,
    SanitizedText,
    WaMessageRef,
    WhatsAppErrorCode,
    WhatsAppStatus,
)

BusinessNumberId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
"""As `SessionStarted.business_number_id`."""


class MessageReceived(Event):
    """One inbound message. Its event id derives from `wa_message_ref`, so a redelivered
    webhook appends nothing. `body_sanitized` is the text an operator sees (text body,
    media caption, chosen option's title, system notice) with phone numbers, e-mail
    addresses, CPF/CNPJ and card numbers masked."""

    TYPE = "MessageReceived"

    wa_message_ref: WaMessageRef
    from_hash: ContactHash
    type: MessageType
    original_type: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    """WhatsApp's name for a type of `unknown`; absent otherwise."""
    body_sanitized: SanitizedText | None = None
    media: Media | None = None
    location: Location | None = None
    contacts_count: Annotated[int, Field(ge=0)] | None = None
    """How many contact cards were shared; the cards hold phone numbers and are not kept."""
    reaction: Reaction | None = None
    interactive: InteractiveReply | None = None
    context: ReplyContext | None = None
    referral: Referral | None = None
    order: Order | None = None
    error_code: WhatsAppErrorCode | None = None
    """WhatsApp's error code on an `unsupported` message."""
    business_number_id: BusinessNumberId | None = None
    """Meta's `phone_number_id` of the business line written to (an id, not a number):
    what `SessionStarted` needs to reply from the same line."""

    @model_validator(mode="after")
    def _original_type_names_only_unknown_types(self) -> Self:
        if (self.type is MessageType.UNKNOWN) != (self.original_type is not None):
            raise ValueError("original_type is set exactly when type is 'unknown'")
        return self


class MessageRevoked(Event):
    """The customer deleted one of their messages (WhatsApp's `revoke`). Not a new
    message: recorded on the contact's current session, it marks the original deleted
    in the log. Its event id derives from `wa_message_ref`, the notice's own."""

    TYPE = "MessageRevoked"

    wa_message_ref: WaMessageRef
    from_hash: ContactHash
    original_ref: WaMessageRef
    """The message deleted."""
    business_number_id: BusinessNumberId | None = None


class MessageEdited(Event):
    """The customer edited one of their messages (WhatsApp's `edit`): the log shows the
    new text and keeps the earlier ones. Not a new message; recorded on the contact's
    current session. Its event id derives from `wa_message_ref`, the notice's own."""

    TYPE = "MessageEdited"

    wa_message_ref: WaMessageRef
    from_hash: ContactHash
    original_ref: WaMessageRef
    """The message edited."""
    body_sanitized: SanitizedText | None = None
    """The new text (or caption), masked like any message's."""
    business_number_id: BusinessNumberId | None = None


class MessageEchoed(Event):
    """A person sent this message to the customer from the WhatsApp Business app (or a
    linked device) on a Coexistence number; Meta echoed it (`smb_message_echoes`).
    Actor HUMAN, channel WHATSAPP_APP. Its event id derives from `wa_message_ref`, so a
    redelivered echo appends nothing. `body_sanitized` is masked as a customer's text
    is."""

    TYPE = "MessageEchoed"

    wa_message_ref: WaMessageRef
    to_hash: ContactHash
    """The customer written to."""
    type: MessageType
    original_type: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    """WhatsApp's name for a type of `unknown`; absent otherwise."""
    body_sanitized: SanitizedText | None = None
    media: Media | None = None
    location: Location | None = None
    business_number_id: BusinessNumberId | None = None

    @property
    def outbound_id(self) -> str:
        """The id the echo goes by among its session's outbounds (kind `APP`), so that
        WhatsApp's delivery statuses find it as they find ours."""
        return f"app-{self.wa_message_ref[:32]}"

    @model_validator(mode="after")
    def _original_type_names_only_unknown_types(self) -> Self:
        if (self.type is MessageType.UNKNOWN) != (self.original_type is not None):
            raise ValueError("original_type is set exactly when type is 'unknown'")
        return self


class WhatsAppStatusReported(Event):
    """WhatsApp reported a status of one of our messages; published by the webhook on
    the `inbound` topic. The conversation worker finds the outbound by `wa_message_ref`
    and records `MessageStatusUpdated`. Its event id derives from the message id and the
    status, so a repeated report changes nothing."""

    TYPE = "WhatsAppStatusReported"

    wa_message_ref: WaMessageRef
    status: WhatsAppStatus
    to_hash: ContactHash | None = None
    """The recipient, when Meta names them (a failed status may not)."""
    error_code: WhatsAppErrorCode | None = None
    error_title: Diagnostic | None = None
    business_number_id: BusinessNumberId | None = None


class MessageStatusUpdated(Event):
    """WhatsApp's report on an outbound message. Its event id derives from the message
    id and the status, so a repeated report appends nothing."""

    TYPE = "MessageStatusUpdated"

    outbound_id: EntityId
    wa_message_ref: WaMessageRef
    status: WhatsAppStatus
    error_code: WhatsAppErrorCode | None = None
    error_title: Diagnostic | None = None


class WhatsAppStatusUnmatched(Event):
    """Stream `wamessage-<wa_message_ref>`: WhatsApp reported a status of a message no
    outbound of ours was linked to within the linking grace period. Switchboard did not
    send it: a person did, from the WhatsApp Business app on a Coexistence number, or
    another tool on the same number. Recorded once per message and status (its event id
    derives from the report's), then acknowledged: not a failure for an operator."""

    TYPE = "WhatsAppStatusUnmatched"

    status: WhatsAppStatus
    error_code: WhatsAppErrorCode | None = None
    business_number_id: BusinessNumberId | None = None
