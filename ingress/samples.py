"""Realistic webhook bodies, shaped as Meta sends them: for `switchboard simulate` and
for tests. Nothing here is used to serve a request."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

Json = dict[str, Any]

WABA_ID = "102290129340398"
BUSINESS_NUMBER_ID = "106540352242922"
BUSINESS_DISPLAY_NUMBER = "15550783881"


class SampleKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACTS = "contacts"
    REACTION = "reaction"
    INTERACTIVE = "interactive"
    BUTTON = "button"
    UNSUPPORTED = "unsupported"
    SYSTEM = "system"
    ORDER = "order"
    REQUEST_WELCOME = "request_welcome"
    STATUS = "status"


_MIME_TYPES = {
    "image": "image/jpeg",
    "audio": "audio/ogg; codecs=opus",
    "video": "video/mp4",
    "document": "application/pdf",
    "sticker": "image/webp",
}


def new_wamid() -> str:
    """An id shaped like Meta's (`wamid.` and base64), random."""
    return "wamid." + base64.b64encode(b"\x18\x16" + secrets.token_bytes(22)).decode()


def meta_digits(phone: str) -> str:
    """A number as Meta writes it in `from` and `wa_id`: digits only, no `+`."""
    return "".join(ch for ch in phone if ch.isdigit())


def message(
    kind: SampleKind | str,
    *,
    phone: str | None,
    text: str = "",
    user_id: str | None = None,
    message_id: str | None = None,
    timestamp: int | None = None,
    **parts: Any,
) -> Json:
    """One `messages[]` item of `kind`. `text` is what the customer typed: the body,
    a caption, a chosen option's title, a place's name, a reaction's emoji (empty:
    the reaction is removed). Extra `parts` (e.g. `context`, `referral`) are added
    as given; a kind this module does not know is sent as that bare type."""
    item: Json = {
        "id": new_wamid() if message_id is None else message_id,
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "type": str(kind),
    }
    if phone is not None:
        item["from"] = meta_digits(phone)
    if user_id is not None:
        item["from_user_id"] = user_id
    item.update(_content(str(kind), text, phone))
    item.update(parts)
    return item


def _content(kind: str, text: str, phone: str | None) -> Json:
    if kind == "text":
        return {"text": {"body": text}}
    if kind in _MIME_TYPES:
        media: Json = {
            "id": str(secrets.randbelow(10**16)),
            "mime_type": _MIME_TYPES[kind],
            "sha256": secrets.token_hex(32),
        }
        if kind in ("image", "video", "document") and text:
            media["caption"] = text
        if kind == "document":
            media["filename"] = "proposta.pdf"
        return {kind: media}
    return _OTHER_CONTENT.get(kind, _nothing)(text, phone)


def _nothing(_text: str, _phone: str | None) -> Json:
    return {}


def _location(text: str, _phone: str | None) -> Json:
    place = {"latitude": -23.561414, "longitude": -46.655881, "address": "Av. Paulista, 1578"}
    return {"location": {**place, "name": text} if text else place}


def _contacts(text: str, _phone: str | None) -> Json:
    card = {
        "name": {"formatted_name": text or "Maria Souza", "first_name": "Maria"},
        "phones": [{"phone": "+55 11 98888-7777", "type": "CELL", "wa_id": "5511988887777"}],
    }
    return {"contacts": [card]}


def _reaction(text: str, _phone: str | None) -> Json:
    reaction: Json = {"message_id": new_wamid()}
    if text:
        reaction["emoji"] = text
    return {"reaction": reaction}


def _interactive(text: str, _phone: str | None) -> Json:
    reply = {"id": "svc-custom", "title": text or "Software sob medida"}
    return {"interactive": {"type": "button_reply", "button_reply": reply}}


def _button(text: str, _phone: str | None) -> Json:
    return {"button": {"payload": "quero-saber-mais", "text": text or "Quero saber mais"}}


def _unsupported(_text: str, _phone: str | None) -> Json:
    error = {
        "code": 131051,
        "title": "Message type unknown",
        "message": "Message type unknown",
        "error_data": {"details": "Message type is currently not supported."},
    }
    return {"errors": [error], "unsupported": {"type": "poll_creation"}}


def _system(_text: str, phone: str | None) -> Json:
    old = meta_digits(phone or "")
    new = "5511977776666"
    return {
        "system": {
            "body": f"User changed from {old} to {new}",
            "wa_id": new,
            "type": "user_changed_number",
        }
    }


def _order(text: str, _phone: str | None) -> Json:
    item = {"product_retailer_id": "plano-pro", "quantity": 1, "item_price": 99.9,
            "currency": "BRL"}  # fmt: skip
    order: Json = {"catalog_id": "1537312090392347", "product_items": [item]}
    if text:
        order["text"] = text
    return {"order": order}


_OTHER_CONTENT: dict[str, Callable[[str, str | None], Json]] = {
    "location": _location,
    "contacts": _contacts,
    "reaction": _reaction,
    "interactive": _interactive,
    "button": _button,
    "unsupported": _unsupported,
    "system": _system,
    "order": _order,
}


def status(
    state: str,
    *,
    phone: str | None,
    message_id: str | None = None,
    user_id: str | None = None,
    error_code: int | None = None,
    timestamp: int | None = None,
) -> Json:
    """One `statuses[]` item: Meta's report on a message we sent."""
    item: Json = {
        "id": new_wamid() if message_id is None else message_id,
        "status": state,
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
    }
    if phone is not None:
        item["recipient_id"] = meta_digits(phone)
    if user_id is not None:
        item["recipient_user_id"] = user_id
    if state != "failed":
        item["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "service"}
    if error_code is not None:
        item["errors"] = [
            {
                "code": error_code,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": "More than 24 hours have passed"},
            }
        ]
    return item


def contact(phone: str | None, user_id: str | None = None, name: str = "Ana Lima") -> Json:
    """One `contacts[]` item: who wrote, as Meta names them."""
    item: Json = {"profile": {"name": name}}
    if phone is not None:
        item["wa_id"] = meta_digits(phone)
    if user_id is not None:
        item["user_id"] = user_id
    return item


def change(
    messages: Sequence[Json] = (),
    statuses: Sequence[Json] = (),
    contacts: Sequence[Json] = (),
) -> Json:
    """One `changes[]` item of field `messages`."""
    value: Json = {
        "messaging_product": "whatsapp",
        "metadata": {
            "display_phone_number": BUSINESS_DISPLAY_NUMBER,
            "phone_number_id": BUSINESS_NUMBER_ID,
        },
    }
    if contacts:
        value["contacts"] = list(contacts)
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {"value": value, "field": "messages"}


def body(*changes: Json, entries: int = 1) -> Json:
    """A whole webhook body: `changes` spread over `entries` entries, in order."""
    per_entry = max(1, -(-len(changes) // entries))
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": WABA_ID, "changes": list(changes[start : start + per_entry])}
            for start in range(0, len(changes), per_entry)
        ],
    }


def encode(payload: Json) -> bytes:
    """Compact JSON, non-ASCII as UTF-8: sign exactly these bytes."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def sample(
    kind: SampleKind,
    *,
    phone: str | None,
    text: str,
    user_id: str | None = None,
    name: str = "Ana Lima",
) -> Json:
    """A body of one message (or one status) of `kind`, from (or to) `phone`, whose
    WhatsApp profile is `name`."""
    if kind is SampleKind.STATUS:
        return body(change(statuses=[status("delivered", phone=phone, user_id=user_id)]))
    item = message(kind, phone=phone, text=text, user_id=user_id)
    contacts = [] if kind is SampleKind.SYSTEM else [contact(phone, user_id, name)]
    return body(change(messages=[item], contacts=contacts))
