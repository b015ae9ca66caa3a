"""The body Meta POSTs to the WhatsApp webhook (Cloud API, fields `messages` and
`smb_message_echoes`).

Lenient where Meta grows: unknown keys are ignored and every part we do not need is
optional, so a new field never turns a customer's message into a dead letter. Strict
where we depend on it: the top-level shape, ids, timestamps and a sender for every
message. A body whose outline fails here is "not a known shape" and is kept whole for
operators; each message and status is read on its own (`Message`, `Status`), so one
malformed part is kept alone and does not sink its siblings.

These models hold phone numbers (`from`, `wa_id`, `recipient_id`); they never leave the
ingress: the translation replaces every number with a `from_hash`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Id = Annotated[str, StringConstraints(min_length=1, max_length=256)]
UnixSeconds = Annotated[int, Field(ge=0, le=253_402_300_799)]
"""Meta sends timestamps as strings of Unix seconds, some payloads as numbers; lax
parsing takes both. At most the end of year 9999, the last instant a `datetime` holds."""


class _Meta(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class Error(_Meta):
    """An error Meta attaches to a message, a status or a change."""

    code: int
    title: str | None = None
    message: str | None = None


class Text(_Meta):
    body: str = ""


class Media(_Meta):
    """image, audio, video, document, sticker: an id to fetch it from Meta, never the
    bytes."""

    id: Id
    mime_type: str
    sha256: str | None = None
    caption: str | None = None


class Location(_Meta):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class Reaction(_Meta):
    """No `emoji` (or an empty one) means the customer removed their reaction."""

    message_id: Id
    emoji: str | None = None


class Choice(_Meta):
    """The option picked in a reply button or list message."""

    id: str | None = None
    title: str | None = None


class FlowReply(_Meta):
    """A WhatsApp Flow's answer. `response_json` is the customer's form data and is
    deliberately not modelled, so it cannot travel further."""

    name: str | None = None
    body: str | None = None


class Interactive(_Meta):
    type: str
    button_reply: Choice | None = None
    list_reply: Choice | None = None
    nfm_reply: FlowReply | None = None


class TemplateButton(_Meta):
    """A quick-reply button of a template: `payload` is the button's id."""

    payload: str | None = None
    text: str | None = None


class System(_Meta):
    """A notice such as `user_changed_number` or `user_changed_user_id`; its body may
    hold phone numbers."""

    body: str | None = None
    type: str | None = None
    wa_id: str | None = None
    """For `user_changed_number`: the new number."""
    new_wa_id: str | None = None
    """The new number, as older payloads name it."""
    user_id: str | None = None
    """The new business-scoped user id (a number change regenerates it too)."""
    parent_user_id: str | None = None
    previous_user_id: str | None = None
    """The business-scoped user id the contact was known by until this notice."""
    previous_parent_user_id: str | None = None

    @property
    def new_number(self) -> str | None:
        """The number a `user_changed_number` notice moves the customer to."""
        if self.type != "user_changed_number":
            return None
        return self.wa_id or self.new_wa_id or None


class OrderItem(_Meta):
    product_retailer_id: str
    quantity: int | None = None
    item_price: float | None = None
    currency: str | None = None


class Order(_Meta):
    """A cart the customer sent from a catalog; `text` is their note."""

    catalog_id: str | None = None
    text: str | None = None
    product_items: list[OrderItem] = []


class Revoke(_Meta):
    """The customer deleted one of their messages."""

    original_message_id: Id


class EditedContent(_Meta):
    """The new content of an edited message: its text, or a media caption."""

    type: str | None = None
    text: Text | None = None
    image: Media | None = None
    video: Media | None = None
    document: Media | None = None

    def body(self) -> str | None:
        if self.text is not None:
            return self.text.body
        media = self.image or self.video or self.document
        return media.caption if media else None


class Edit(_Meta):
    """The customer edited one of their messages."""

    original_message_id: Id
    message: EditedContent | None = None


class Context(_Meta):
    """What the message replies to or forwards. `from` (a phone number) is ignored."""

    id: str | None = None
    forwarded: bool = False
    frequently_forwarded: bool = False


class Referral(_Meta):
    """The click-to-WhatsApp ad or post that opened the conversation."""

    source_type: str | None = None
    source_id: str | None = None
    source_url: str | None = None
    headline: str | None = None
    body: str | None = None
    ctwa_clid: str | None = None


class Message(_Meta):
    """One inbound message. `type` is kept as sent: a type this code does not know is
    still a message."""

    id: Id
    timestamp: UnixSeconds
    type: Annotated[str, StringConstraints(min_length=1)]
    from_: str | None = Field(None, alias="from")
    from_user_id: str | None = None
    """The business-scoped user id (BSUID), e.g. `BR.1549…`."""
    from_parent_user_id: str | None = None
    text: Text | None = None
    image: Media | None = None
    audio: Media | None = None
    video: Media | None = None
    document: Media | None = None
    sticker: Media | None = None
    location: Location | None = None
    contacts: list[dict[str, Any]] | None = None
    """Shared contact cards: counted, never read."""
    reaction: Reaction | None = None
    interactive: Interactive | None = None
    button: TemplateButton | None = None
    system: System | None = None
    order: Order | None = None
    revoke: Revoke | None = None
    edit: Edit | None = None
    context: Context | None = None
    referral: Referral | None = None
    errors: list[Error] = []

    @property
    def occurred_at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp, UTC)

    def media(self) -> Media | None:
        """The media object matching `type`, if the message is a media message."""
        found = getattr(self, self.type, None) if self.type in MEDIA_TYPES else None
        return found if isinstance(found, Media) else None


MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})


class Status(_Meta):
    """Meta's report on a message we sent."""

    id: Id
    status: Annotated[str, StringConstraints(min_length=1)]
    timestamp: UnixSeconds
    recipient_type: str | None = None
    """`group` for a message we sent to a group: `recipient_id` is then the group's id,
    not a phone number."""
    recipient_id: str | None = None
    recipient_user_id: str | None = None
    errors: list[Error] = []

    @property
    def occurred_at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp, UTC)


class Profile(_Meta):
    name: str | None = None
    username: str | None = None


class Contact(_Meta):
    """Who wrote: `wa_id` (the phone, absent for some users with a username), `user_id`
    (the BSUID), and the profile's name and username (sealed in the vault)."""

    wa_id: str | None = None
    user_id: str | None = None
    parent_user_id: str | None = None
    profile: Profile | None = None


class Metadata(_Meta):
    phone_number_id: Id
    """Our business line's id (not a number)."""


class Sender(BaseModel):
    """A message's author as Meta identifies them: at least one of the two is set."""

    model_config = ConfigDict(frozen=True)

    user_id: str | None
    phone: str | None
    parent_user_id: str | None = None
    name: str | None = None
    username: str | None = None


class MessagesValue(_Meta):
    """`messages` and `statuses` are kept as sent, each read on its own
    (`message_at`, `status_at`)."""

    metadata: Metadata
    contacts: list[Contact] = []
    messages: list[Any] = []
    statuses: list[Any] = []
    errors: list[Error] = []

    def message_at(self, index: int) -> Message:
        """The message at `index`; raises `ValidationError`, or `ValueError` when it
        names no sender."""
        message = Message.model_validate(self.messages[index])
        sender = self.sender_of(message)
        if sender.user_id is None and sender.phone is None:
            raise ValueError("names no sender (from, from_user_id, wa_id)")
        return message

    def status_at(self, index: int) -> Status:
        """The status at `index`; raises `ValidationError`."""
        return Status.model_validate(self.statuses[index])

    def sender_of(self, message: Message) -> Sender:
        """`from` and `from_user_id`, completed from the `contacts` entry that matches
        (or the only one): the BSUID may be given only there."""
        contact = self._contact_for(message)
        user_id = message.from_user_id or (contact.user_id if contact else None)
        phone = message.from_ or (contact.wa_id if contact else None)
        parent = message.from_parent_user_id or (contact.parent_user_id if contact else None)
        profile = contact.profile if contact else None
        return Sender(
            user_id=user_id or None,
            phone=phone or None,
            parent_user_id=parent or None,
            name=(profile.name if profile else None) or None,
            username=(profile.username if profile else None) or None,
        )

    def _contact_for(self, message: Message) -> Contact | None:
        for contact in self.contacts:
            if message.from_ and contact.wa_id == message.from_:
                return contact
            if message.from_user_id and contact.user_id == message.from_user_id:
                return contact
        return self.contacts[0] if len(self.contacts) == 1 else None


class Echo(Message):
    """A message a person sent from the WhatsApp Business app (or a linked device) on a
    Coexistence number: `from` is the business's number, `to` the customer's. Its
    content is shaped as an inbound message's."""

    to: str | None = None
    to_user_id: str | None = None
    """The customer's BSUID, when Meta names it."""

    @model_validator(mode="after")
    def _names_the_customer(self) -> Self:
        if not self.to and not self.to_user_id:
            raise ValueError("an echo names no customer (to, to_user_id)")
        return self

    @property
    def customer(self) -> Sender:
        return Sender(user_id=self.to_user_id or None, phone=self.to or None)


class EchoesValue(_Meta):
    """The value of an `smb_message_echoes` change. Echoes are kept as sent, each read
    on its own (`echo_at`), so that one Meta sends malformed cannot sink the others."""

    metadata: Metadata
    message_echoes: list[Any] = []

    def echo_at(self, index: int) -> Echo:
        """The echo at `index`; raises `ValidationError` (a `ValueError`)."""
        return Echo.model_validate(self.message_echoes[index])


ECHOES_FIELD = "smb_message_echoes"


class Change(_Meta):
    """One change of an entry. The `messages` and `smb_message_echoes` fields are read;
    another field's value (account or template updates) is not ours to interpret and is
    dropped here."""

    field: str
    value: MessagesValue | None = None
    echoes: EchoesValue | None = None
    """The value of an `smb_message_echoes` change."""

    @model_validator(mode="before")
    @classmethod
    def _read_only_messages(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("field") == ECHOES_FIELD:
            return {"field": ECHOES_FIELD, "echoes": data.get("value")}
        if isinstance(data, dict) and data.get("field") != "messages":
            return {"field": data.get("field")}
        return data

    @model_validator(mode="after")
    def _messages_have_a_value(self) -> Self:
        if self.field == "messages" and self.value is None:
            raise ValueError("a messages change has no value")
        if self.field == ECHOES_FIELD and self.echoes is None:
            raise ValueError("an smb_message_echoes change has no value")
        return self


class Entry(_Meta):
    id: str
    changes: list[Change]


class WebhookBody(_Meta):
    object: Literal["whatsapp_business_account"]
    entry: list[Entry]

    def values(self) -> list[MessagesValue]:
        """Every `messages` value of every entry and change, in the order sent."""
        return [change.value for entry in self.entry for change in entry.changes if change.value]

    def echoes(self) -> list[EchoesValue]:
        """Every `smb_message_echoes` value of every entry and change, in the order sent."""
        return [c.echoes for entry in self.entry for c in entry.changes if c.echoes]
