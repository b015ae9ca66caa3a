"""What an inbound WhatsApp message carries beyond its text.

Each part keeps what an operator or the bot needs and drops what identifies a person
by phone: a reply context loses its `from`, shared contact cards are only counted.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from contracts.frozen import Frozen
from contracts.vocabulary import WaMessageRef, clipped_to

ShortText = Annotated[str, clipped_to(1024), StringConstraints(max_length=1024)]


class Media(Frozen):
    """An image, audio, video, document or sticker. Not downloaded: the id lets an
    operator fetch it from Meta while it lasts. The caption is the message's
    `body_sanitized`."""

    media_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    mime_type: Annotated[str, StringConstraints(pattern=r"^[\w.+-]+/[\w.+-]+(;.*)?$")]
    sha256: Annotated[str, StringConstraints(max_length=128)] | None = None


class Location(Frozen):
    latitude: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    longitude: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
    name: ShortText | None = None
    address: ShortText | None = None


class Reaction(Frozen):
    """A reaction to one of the conversation's messages; no emoji means it was removed."""

    message_ref: WaMessageRef
    emoji: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None


class OrderItem(Frozen):
    product_retailer_id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    quantity: Annotated[int, Field(ge=0)] | None = None
    item_price: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    currency: Annotated[str, StringConstraints(max_length=8)] | None = None


class Order(Frozen):
    """A cart the customer sent from the business's catalog. Their note is the
    message's `body_sanitized`."""

    catalog_id: Annotated[str, StringConstraints(max_length=256)] | None = None
    items: Annotated[tuple[OrderItem, ...], Field(max_length=100)] = ()


class ReplyKind(StrEnum):
    """How the customer picked an option: WhatsApp's interactive subtypes, and the
    quick-reply `button` of a template."""

    BUTTON_REPLY = "button_reply"
    LIST_REPLY = "list_reply"
    NFM_REPLY = "nfm_reply"
    TEMPLATE_BUTTON = "button"


class InteractiveReply(Frozen):
    """The option's id (its payload for a template button). Its visible title is the
    message's `body_sanitized`. A flow's `response_json` is not kept: it is free-form
    customer data."""

    kind: ReplyKind
    reply_id: Annotated[str, StringConstraints(max_length=256)] | None = None


class ReplyContext(Frozen):
    """The message this one replies to or forwards. WhatsApp's `context.from` (a phone
    number) is deliberately absent."""

    message_ref: WaMessageRef | None = None
    forwarded: bool = False
    frequently_forwarded: bool = False


class Referral(Frozen):
    """The ad or post that opened the conversation (click-to-WhatsApp)."""

    source_type: Annotated[str, StringConstraints(max_length=64)]
    source_id: Annotated[str, StringConstraints(max_length=256)] | None = None
    source_url: Annotated[str, StringConstraints(max_length=2048)] | None = None
    headline: ShortText | None = None
    body: ShortText | None = None
    ctwa_clid: Annotated[str, clipped_to(512), StringConstraints(max_length=512)] | None = None
