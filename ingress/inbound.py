"""From a signed webhook body to the envelopes the `inbound` topic carries.

Every entry, change, message and status of a body is translated (Meta batches), each
message and status on its own: one that does not fit is set aside with its reason (to
be kept sealed for operators) and its siblings flow on. Ids
derive from WhatsApp's ids, so a redelivered body yields the same envelopes and
changes nothing downstream. Phone numbers stop here: each sender becomes a `from_hash`,
the number itself goes only into the vault, and each WhatsApp message id (which holds
the sender's number) becomes its ref.

No HTTP in this module: the webhook reads and verifies the body, this decides what it
means.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from contracts import strict_json
from contracts import whatsapp as wa
from contracts.envelope import Actor, Event, EventEnvelope, derived_event_id
from contracts.events.inbound import MessageEchoed, WhatsAppStatusReported
from contracts.ports.vault import ContactIdentity, Vault
from contracts.streams import inbox_stream
from contracts.vocabulary import MessageStatus
from domain.identity import InvalidIdentity, contact_identity, normalise_e164
from ingress.message_content import MessageRefs, clean_text, customer_event, message_received

_STATUSES = {status.value.lower(): status for status in MessageStatus}
_REPORTED = ("sent", "delivered", "read", "failed")
PROFILE_TEXT_MAX = 256


class PayloadRejected(Exception):
    """A signed body this code cannot read. It is acknowledged all the same (Meta
    would retry it for days) and kept for operators. The reason never quotes the
    body, which may hold phone numbers."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class RejectedPart:
    """One message or status of a body that does not fit the catalogue."""

    reason: str
    """Where in the body and why, never a value from it."""
    raw: bytes
    """The part alone, as JSON: to be kept sealed, never in clear."""


@dataclass(frozen=True)
class Translation:
    envelopes: tuple[EventEnvelope, ...]
    messages: int
    statuses: int
    ignored_statuses: int
    """Statuses other than sent, delivered, read and failed (e.g. `deleted`)."""
    rejected: tuple[RejectedPart, ...] = ()
    echoes: int = 0
    """Messages a person sent from the WhatsApp Business app (`smb_message_echoes`)."""


def parse_body(raw: bytes) -> wa.WebhookBody:
    """The body as Meta's model, lone surrogates in its text replaced (they cannot be
    encoded, and the delivery must not fail for one); raises `PayloadRejected`."""
    try:
        data = strict_json.with_text_repaired(json.loads(raw))
    except json.JSONDecodeError as error:
        raise PayloadRejected(
            f"not JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    except ValueError:
        raise PayloadRejected("not JSON: the bytes are not UTF-8, UTF-16 or UTF-32 text") from None
    except RecursionError:
        raise PayloadRejected("not JSON this code reads: nested too deeply") from None
    try:
        return wa.WebhookBody.model_validate(data)
    except ValidationError as error:
        raise PayloadRejected(f"not a WhatsApp messages webhook: {_describe(error)}") from None


def translate(body: wa.WebhookBody, vault: Vault, recorded_at: datetime) -> Translation:
    """Every message and status of `body` as an envelope for the `inbound` topic, and
    the parts that do not fit the catalogue, each with its reason.

    Remembers each sender's identity in the vault."""
    contacts = _Contacts(vault)
    envelopes: list[EventEnvelope] = []
    rejected: list[RejectedPart] = []
    messages = statuses = ignored = 0
    for v, value in enumerate(body.values()):
        line = value.metadata.phone_number_id
        for m, raw in enumerate(value.messages):
            try:
                message = value.message_at(m)
                sender = contacts.sender_of(value, message)
                event = customer_event(message, sender, line, vault.message_ref)
            except (ValueError, PayloadRejected) as error:
                rejected.append(_rejected_part(f"value {v} message {m}", error, raw))
                continue
            envelopes.append(
                _envelope(event, event.wa_message_ref, message.occurred_at, recorded_at, Actor.USER)
            )
            messages += 1
        for s, raw in enumerate(value.statuses):
            try:
                status = value.status_at(s)
                reported = _status_reported(status, contacts, line, vault.message_ref)
            except (ValueError, PayloadRejected) as error:
                rejected.append(_rejected_part(f"value {v} status {s}", error, raw))
                continue
            if reported is None:
                ignored += 1
                continue
            key = f"{reported.wa_message_ref}:{status.status}"
            envelopes.append(
                _envelope(reported, key, status.occurred_at, recorded_at, Actor.SYSTEM)
            )
            statuses += 1
    echoed = _echo_envelopes(body, contacts, vault, recorded_at, rejected)
    return Translation(
        (*envelopes, *echoed), messages, statuses, ignored, tuple(rejected), len(echoed)
    )


def _echo_envelopes(
    body: wa.WebhookBody,
    contacts: _Contacts,
    vault: Vault,
    recorded_at: datetime,
    rejected: list[RejectedPart],
) -> list[EventEnvelope]:
    """Every echo of `body`: actor HUMAN, the customer's number remembered as a
    sender's is (an operator may write to them later). One that cannot be read is
    added to `rejected`, alone."""
    envelopes: list[EventEnvelope] = []
    for v, value in enumerate(body.echoes()):
        line = value.metadata.phone_number_id
        for e, raw in enumerate(value.message_echoes):
            try:
                echo = value.echo_at(e)
                to_hash = contacts.hash_of(echo.customer, remember=True)
                event = message_echoed(echo, to_hash, line, vault.message_ref)
            except (ValueError, PayloadRejected) as error:
                rejected.append(_rejected_part(f"echoes {v} message {e}", error, raw))
                continue
            envelopes.append(
                _envelope(event, event.wa_message_ref, echo.occurred_at, recorded_at, Actor.HUMAN)
            )
    return envelopes


def message_echoed(
    echo: wa.Echo, to_hash: str, business_number_id: str, refs: MessageRefs
) -> MessageEchoed:
    """The echo's content read as an inbound message's is (sanitised, ids as refs)."""
    content = message_received(echo, to_hash, business_number_id, refs)
    return MessageEchoed(
        wa_message_ref=content.wa_message_ref,
        to_hash=to_hash,
        type=content.type,
        original_type=content.original_type,
        body_sanitized=content.body_sanitized,
        media=content.media,
        location=content.location,
        business_number_id=business_number_id,
    )


def _status_reported(
    status: wa.Status, contacts: _Contacts, business_number_id: str, refs: MessageRefs
) -> WhatsAppStatusReported | None:
    if status.status not in _REPORTED:
        return None
    recipient = wa.Sender(user_id=status.recipient_user_id, phone=status.recipient_id)
    has_recipient = status.recipient_type != "group" and (recipient.user_id or recipient.phone)
    error = status.errors[0] if status.errors else None
    return WhatsAppStatusReported(
        wa_message_ref=refs(status.id),
        status=_STATUSES[status.status],
        to_hash=contacts.hash_of(recipient, remember=False) if has_recipient else None,
        error_code=error.code if error else None,
        error_title=clean_text(error.title or error.message, 1000) if error else None,
        business_number_id=business_number_id,
    )


def _envelope(
    event: Event, input_key: str, occurred_at: datetime, recorded_at: datetime, actor: Actor
) -> EventEnvelope:
    event_id = derived_event_id(input_key, event.TYPE)
    return EventEnvelope(
        event_id=event_id,
        stream_id=inbox_stream(input_key),
        version=1,
        type=event.TYPE,
        schema_version=event.SCHEMA_VERSION,
        occurred_at=occurred_at,
        recorded_at=recorded_at,
        correlation_id=event_id,
        actor=actor,
        payload=event.model_dump(mode="json"),
    )


class _Contacts:
    """Resolves each sender once per body, and writes each identity to the vault once."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._hashes: dict[tuple[wa.Sender, bool], str] = {}

    def hash_of(self, sender: wa.Sender, *, remember: bool) -> str:
        """The contact's `from_hash`, through the vault's aliases: one person is one
        contact whether WhatsApp names them by number, BSUID or both."""
        key = (sender, remember)
        if key not in self._hashes:
            identity = _identity(sender)
            if remember:
                self._hashes[key] = self._vault.remember(identity)
            else:
                known = self._vault.contact_of(identity)
                self._hashes[key] = known or self._vault.contact_hash(identity.aliases[0])
        return self._hashes[key]

    def sender_of(self, value: wa.MessagesValue, message: wa.Message) -> str:
        """The `from_hash` of who wrote `message`, remembered. A notice that the user's
        number or business-scoped id changed moves the contact to the new ones first;
        one naming the id it replaces (`previous_user_id`) finds the contact by it, as
        its own sender ids may already be the new ones."""
        system = message.system if message.type == "system" else None
        previous = system.previous_user_id if system else None
        known = None
        if previous:
            known = self._vault.contact_of(_identity(wa.Sender(user_id=previous, phone=None)))
        if system is None or known is None:
            from_hash = self.hash_of(value.sender_of(message), remember=True)
            if system is not None and system.new_number is not None:
                self._vault.change_number(from_hash, _e164(system.new_number))
            return from_hash
        new_user_id = system.user_id or message.from_user_id
        if new_user_id and new_user_id != previous:
            bsuid = contact_identity(new_user_id, None)
            self._vault.change_user_id(known, bsuid, _optional_user_id(system.parent_user_id))
        if system.new_number is not None:
            self._vault.change_number(known, _e164(system.new_number))
        return known


def _identity(sender: wa.Sender) -> ContactIdentity:
    try:
        bsuid = contact_identity(sender.user_id, None) if sender.user_id else None
        e164 = normalise_e164(sender.phone) if sender.phone else None
        if bsuid is None and e164 is None:
            contact_identity(None, None)  # raises, saying why
        return ContactIdentity(
            e164=e164,
            bsuid=bsuid,
            parent_user_id=_optional_user_id(sender.parent_user_id),
            profile_name=_profile_text(sender.name),
            username=_profile_text(sender.username),
        )
    except InvalidIdentity as error:
        raise _unidentifiable(error) from None


def _optional_user_id(raw: str | None) -> str | None:
    """A malformed parent id is dropped: the contact is known without it."""
    try:
        return contact_identity(raw, None) if raw and raw.strip() else None
    except InvalidIdentity:
        return None


def _profile_text(raw: str | None) -> str | None:
    text = (raw or "").strip()
    return text[:PROFILE_TEXT_MAX] or None


def _e164(phone: str) -> str:
    try:
        return normalise_e164(phone)
    except InvalidIdentity as error:
        raise _unidentifiable(error) from None


def _unidentifiable(error: InvalidIdentity) -> PayloadRejected:
    """The error says why (lengths, forms), never the value."""
    return PayloadRejected(f"a sender or recipient is not identifiable: {error}")


def _rejected_part(where: str, error: ValueError | PayloadRejected, raw: object) -> RejectedPart:
    if isinstance(error, ValidationError):
        why = _describe(error)
    elif isinstance(error, PayloadRejected):
        why = error.reason
    else:
        why = str(error)  # raised by our own checks, which quote no value
    part = json.dumps(raw, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return RejectedPart(f"{where}: {why}", part.encode())


def _describe(error: ValidationError, limit: int = 3) -> str:
    """Where and why, without the offending values (they may be phone numbers)."""
    problems = [
        f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}"
        for e in error.errors(include_url=False, include_input=False, include_context=False)
    ]
    more = f" (and {len(problems) - limit} more)" if len(problems) > limit else ""
    return "; ".join(problems[:limit]) + more
