"""What a WhatsApp message says, in the catalogue's words: `MessageReceived`, or, for
a customer deleting or editing an earlier message, `MessageRevoked` or `MessageEdited`.

Text that a customer typed (a body, a caption, a chosen option's title, an ad's copy)
and what Meta passes along (a button's id or payload, an ad's link and id: a `wa.me`
link holds a number) is sanitised before it goes anywhere; what identifies a person by
phone (`context.from`, shared contact cards, a flow's form data) is left behind, and
WhatsApp's message ids, which hold the sender's number, become refs
(`Vault.message_ref`).
"""

from __future__ import annotations

from collections.abc import Callable

from contracts import whatsapp as wa
from contracts.content import (
    InteractiveReply,
    Location,
    Media,
    Order,
    OrderItem,
    Reaction,
    Referral,
    ReplyContext,
    ReplyKind,
)
from contracts.events.inbound import MessageEdited, MessageReceived, MessageRevoked
from contracts.vocabulary import MessageType
from domain.sanitize import sanitize_within

_KNOWN_TYPES = frozenset(MessageType) - {MessageType.UNKNOWN}
_SHORT = 1024
"""As `contracts.content.ShortText`."""


MessageRefs = Callable[[str], str]
"""WhatsApp message id → its ref."""

CustomerEvent = MessageReceived | MessageRevoked | MessageEdited


def customer_event(
    message: wa.Message, from_hash: str, business_number_id: str, refs: MessageRefs
) -> CustomerEvent:
    """A revoke or an edit names the message it changes; anything else is a message.
    Raises `ValueError` (a `pydantic.ValidationError` among them) when a part is
    outside what the catalogue accepts."""
    if message.type == "revoke":
        if message.revoke is None:
            raise ValueError("revoke: names no original_message_id")
        return MessageRevoked(
            wa_message_ref=refs(message.id), from_hash=from_hash,
            original_ref=refs(message.revoke.original_message_id),
            business_number_id=business_number_id,
        )  # fmt: skip
    if message.type == "edit":
        if message.edit is None:
            raise ValueError("edit: names no original_message_id")
        content = message.edit.message
        return MessageEdited(
            wa_message_ref=refs(message.id), from_hash=from_hash,
            original_ref=refs(message.edit.original_message_id),
            body_sanitized=clean_text(content.body() if content else None),
            business_number_id=business_number_id,
        )  # fmt: skip
    return message_received(message, from_hash, business_number_id, refs)


def message_received(
    message: wa.Message, from_hash: str, business_number_id: str, refs: MessageRefs
) -> MessageReceived:
    """Raises `pydantic.ValidationError` when a part is outside what the catalogue
    accepts (a latitude of 200, a media id of 1 kB)."""
    known = message.type in _KNOWN_TYPES
    interactive, title = _choice(message)
    return MessageReceived(
        wa_message_ref=refs(message.id),
        from_hash=from_hash,
        type=MessageType(message.type) if known else MessageType.UNKNOWN,
        original_type=None if known else message.type[:64],
        body_sanitized=clean_text(_body(message) or title),
        media=_media(message),
        location=_location(message),
        contacts_count=len(message.contacts or []) if message.type == "contacts" else None,
        reaction=_reaction(message, refs),
        interactive=interactive,
        context=_context(message.context, refs),
        referral=_referral(message.referral),
        order=_order(message),
        error_code=message.errors[0].code if message.errors else None,
        business_number_id=business_number_id,
    )


def clean_text(text: str | None, limit: int = 8192) -> str | None:
    """Sanitised, at most `limit` characters. Overlong text is cut at a space before
    sanitising, not after: masking cost grows with the length, and a cut after masking
    must not leave half a number unmasked. What masking lengthened past `limit` (a
    placeholder can be longer than what it hides) is clipped last."""
    if not text:
        return None
    if len(text) > limit:
        head = text[:limit]
        space = head.rfind(" ")
        text = (head[:space] if space > 0 else head) + "…"
    return sanitize_within(text, limit)


def _body(message: wa.Message) -> str | None:
    if message.type == "text" and message.text:
        return message.text.body
    if message.type == "system" and message.system:
        return message.system.body
    if message.type == "order" and message.order:
        return message.order.text
    media = message.media()
    return media.caption if media else None


def _media(message: wa.Message) -> Media | None:
    media = message.media()
    if media is None:
        return None
    return Media(media_id=media.id, mime_type=media.mime_type, sha256=media.sha256)


def _location(message: wa.Message) -> Location | None:
    found = message.location if message.type == "location" else None
    if found is None:
        return None
    return Location(
        latitude=found.latitude,
        longitude=found.longitude,
        name=clean_text(found.name, _SHORT),
        address=clean_text(found.address, _SHORT),
    )


def _order(message: wa.Message) -> Order | None:
    found = message.order if message.type == "order" else None
    if found is None:
        return None
    items = tuple(
        OrderItem.model_validate(item.model_dump(include=set(OrderItem.model_fields)))
        for item in found.product_items
    )
    return Order(catalog_id=found.catalog_id, items=items)


def _reaction(message: wa.Message, refs: MessageRefs) -> Reaction | None:
    found = message.reaction if message.type == "reaction" else None
    if found is None:
        return None
    emoji = clean_text(found.emoji, 31)  # the ellipsis of a cut makes 32, what `Reaction` holds
    return Reaction(message_ref=refs(found.message_id), emoji=emoji)


def _choice(message: wa.Message) -> tuple[InteractiveReply | None, str | None]:
    """The option the customer picked, and its visible title."""
    if message.type == "button" and message.button:
        reply = InteractiveReply(
            kind=ReplyKind.TEMPLATE_BUTTON, reply_id=clean_text(message.button.payload, 256)
        )
        return reply, message.button.text
    found = message.interactive if message.type == "interactive" else None
    if found is None:
        return None, None
    if found.type == "nfm_reply" and found.nfm_reply:
        flow = found.nfm_reply
        return InteractiveReply(
            kind=ReplyKind.NFM_REPLY, reply_id=clean_text(flow.name, 256)
        ), flow.body
    choice = found.button_reply if found.type == "button_reply" else found.list_reply
    if found.type not in ("button_reply", "list_reply") or choice is None:
        return None, None
    return InteractiveReply(
        kind=ReplyKind(found.type), reply_id=clean_text(choice.id, 256)
    ), choice.title


def _context(found: wa.Context | None, refs: MessageRefs) -> ReplyContext | None:
    if found is None:
        return None
    return ReplyContext(
        message_ref=refs(found.id) if found.id else None,
        forwarded=found.forwarded,
        frequently_forwarded=found.frequently_forwarded,
    )


def _referral(found: wa.Referral | None) -> Referral | None:
    if found is None:
        return None
    return Referral(
        source_type=found.source_type or "unknown",
        source_id=clean_text(found.source_id, 256),
        source_url=clean_text(found.source_url, 2048),
        headline=clean_text(found.headline, _SHORT),
        body=clean_text(found.body, _SHORT),
        ctwa_clid=found.ctwa_clid,
    )
