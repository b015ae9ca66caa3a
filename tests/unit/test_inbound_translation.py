"""From Meta's webhook body to the envelopes of the `inbound` topic, with a real vault."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.crypto.keyring import Keyring
from adapters.sqlite.vault import SqliteVault
from contracts.content import ReplyKind
from contracts.envelope import Actor, EventEnvelope, derived_event_id
from contracts.events.inbound import (
    MessageEdited,
    MessageReceived,
    MessageRevoked,
    WhatsAppStatusReported,
)
from contracts.vocabulary import MessageStatus, MessageType
from domain.identity import contact_identity
from ingress import samples
from ingress.inbound import PayloadRejected, Translation, parse_body, translate

NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)
SENT_AT = 1_773_500_000
PHONE = "+5511999990001"
DIGITS = "5511999990001"
WAMID = "wamid.HBgNNTUxMTk5OTk5MDAwMRUCABIYFjNFQjBDMEQ3NkE4RTJGNDlCQzY2AA=="
BSUID = "BR.1549083310287736"


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[SqliteVault]:
    opened = SqliteVault(tmp_path / "vault.db", hash_key=b"h" * 32, keyring=Keyring.generate("t1"))
    yield opened
    opened.close()


def run(payload: dict[str, Any], vault: SqliteVault) -> Translation:
    return translate(parse_body(samples.encode(payload)), vault, NOW)


def one_message(kind: str, vault: SqliteVault, text: str = "", **parts: Any) -> MessageReceived:
    item = samples.message(
        kind, phone=PHONE, text=text, message_id=WAMID, timestamp=SENT_AT, **parts
    )
    translation = run(
        samples.body(samples.change(messages=[item], contacts=[samples.contact(PHONE)])), vault
    )
    (envelope,) = translation.envelopes
    event = envelope.event()
    assert isinstance(event, MessageReceived)
    return event


def phone_hash(vault: SqliteVault, phone: str = PHONE) -> str:
    return vault.contact_hash(contact_identity(None, phone))


def number_in(vault: SqliteVault, from_hash: str) -> str | None:
    identity = vault.reveal(from_hash)
    return identity.e164 if identity else None


def dumped(envelopes: tuple[EventEnvelope, ...]) -> str:
    return "\n".join(envelope.model_dump_json() for envelope in envelopes)


def assert_no_phone(text: str) -> None:
    for form in (DIGITS, "11999990001", "99999-0001", "999990001"):
        assert form not in text


# --- a text message, end to end --------------------------------------------------------


def test_a_text_message_becomes_an_envelope_keyed_by_its_wamid_s_ref(vault: SqliteVault) -> None:
    item = samples.message("text", phone=PHONE, text="Olá", message_id=WAMID, timestamp=SENT_AT)
    body = samples.body(samples.change(messages=[item], contacts=[samples.contact(PHONE)]))

    translation = run(body, vault)

    (envelope,) = translation.envelopes
    ref = vault.message_ref(WAMID)
    event_id = derived_event_id(ref, "MessageReceived")
    assert (translation.messages, translation.statuses) == (1, 0)
    assert envelope.event_id == event_id
    assert envelope.correlation_id == event_id
    assert envelope.stream_id == "inbox-" + hashlib.sha256(ref.encode()).hexdigest()[:40]
    assert (envelope.version, envelope.type, envelope.actor) == (1, "MessageReceived", Actor.USER)
    assert envelope.occurred_at == datetime.fromtimestamp(SENT_AT, UTC)
    assert envelope.recorded_at == NOW
    assert envelope.event() == MessageReceived(
        wa_message_ref=ref,
        from_hash=phone_hash(vault),
        type=MessageType.TEXT,
        body_sanitized="Olá",
        business_number_id=samples.BUSINESS_NUMBER_ID,
    )


def test_no_whatsapp_message_id_reaches_an_event(vault: SqliteVault) -> None:
    """A wamid is base64 of a record holding the sender's number in clear."""
    item = samples.message("text", phone=PHONE, text="oi", message_id=WAMID,
                           context={"id": "wamid.earlier"})  # fmt: skip
    status = samples.status("read", phone=PHONE, message_id="wamid.ours")
    body = samples.body(samples.change(messages=[item], statuses=[status]))

    published = dumped(run(body, vault).envelopes)

    assert "wamid" not in published
    assert WAMID.removeprefix("wamid.")[:16] not in published
    assert vault.message_ref(WAMID) in published


def test_the_sender_s_number_goes_to_the_vault_and_nowhere_else(vault: SqliteVault) -> None:
    event = one_message("text", vault, text="oi")

    assert number_in(vault, event.from_hash) == PHONE


def test_numbers_typed_in_a_message_are_masked(vault: SqliteVault) -> None:
    event = one_message("text", vault, text="me liga no +55 11 99999-0001 amanhã")

    assert event.body_sanitized is not None
    assert "amanhã" in event.body_sanitized
    assert_no_phone(event.body_sanitized)


def test_overlong_text_is_cut_at_a_space_before_masking(vault: SqliteVault) -> None:
    padding = "a " * 4094  # the cut at 8192 characters falls inside the number
    event = one_message("text", vault, text=padding + DIGITS + " fim")

    assert event.body_sanitized is not None
    assert event.body_sanitized.endswith("a…")
    assert not any(ch.isdigit() for ch in event.body_sanitized)


def test_a_huge_word_is_bounded_before_masking(vault: SqliteVault) -> None:
    started = time.monotonic()
    event = one_message("text", vault, text="x" * 1_000_000 + " " + PHONE)

    assert time.monotonic() - started < 5
    assert event.body_sanitized == "x" * 8191 + "…"  # cut, and marked as cut


def test_a_number_without_brazil_s_ninth_digit_is_the_same_contact(vault: SqliteVault) -> None:
    with_ninth = samples.message("text", phone="+5511999990001", text="a", timestamp=SENT_AT)
    without = samples.message("text", phone="+551199990001", text="b", timestamp=SENT_AT)

    translation = run(samples.body(samples.change(messages=[with_ninth, without])), vault)

    hashes = {envelope.payload["from_hash"] for envelope in translation.envelopes}
    assert hashes == {phone_hash(vault)}


# --- identity: the business-scoped user id -----------------------------------------


def test_a_bsuid_keys_the_contact_and_the_number_is_still_remembered(vault: SqliteVault) -> None:
    item = samples.message("text", phone=PHONE, text="oi", user_id=BSUID, timestamp=SENT_AT)

    (envelope,) = run(samples.body(samples.change(messages=[item])), vault).envelopes

    from_hash = vault.contact_hash(contact_identity(BSUID, PHONE))
    assert envelope.payload["from_hash"] == from_hash
    assert from_hash != phone_hash(vault)
    assert number_in(vault, from_hash) == PHONE


def test_a_user_with_a_username_and_no_number_is_keyed_by_bsuid(vault: SqliteVault) -> None:
    item = samples.message("text", phone=None, text="oi", user_id=BSUID, timestamp=SENT_AT)

    (envelope,) = run(samples.body(samples.change(messages=[item])), vault).envelopes

    assert envelope.payload["from_hash"] == vault.contact_hash(contact_identity(BSUID, None))
    assert number_in(vault, envelope.payload["from_hash"]) is None


def test_the_bsuid_may_come_only_in_the_contacts_array(vault: SqliteVault) -> None:
    item = samples.message("text", phone=PHONE, text="oi", timestamp=SENT_AT)
    change = samples.change(messages=[item], contacts=[samples.contact(PHONE, user_id=BSUID)])

    (envelope,) = run(samples.body(change), vault).envelopes

    assert envelope.payload["from_hash"] == vault.contact_hash(contact_identity(BSUID, PHONE))


# --- every message type --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["image", "audio", "video", "document", "sticker"])
def test_media_keeps_its_id_mime_type_and_digest_without_downloading(
    kind: str, vault: SqliteVault
) -> None:
    caption = "segue o print" if kind in ("image", "video", "document") else ""
    media = {"id": "1047093366889251", "mime_type": "image/webp", "sha256": "ab" * 32}
    if caption:
        media["caption"] = caption

    parts: dict[str, Any] = {kind: media}
    event = one_message(kind, vault, **parts)

    assert event.type == MessageType(kind)
    assert event.media is not None
    assert (event.media.media_id, event.media.mime_type, event.media.sha256) == (
        "1047093366889251",
        "image/webp",
        "ab" * 32,
    )
    assert event.body_sanitized == (caption or None)


def test_a_voice_note_s_mime_type_with_parameters_is_kept(vault: SqliteVault) -> None:
    event = one_message("audio", vault)

    assert event.media is not None
    assert event.media.mime_type == "audio/ogg; codecs=opus"


def test_a_location_keeps_coordinates_and_a_sanitised_place(vault: SqliteVault) -> None:
    event = one_message("location", vault, text="Escritório")

    assert event.location is not None
    assert (event.location.latitude, event.location.longitude) == (-23.561414, -46.655881)
    assert (event.location.name, event.location.address) == ("Escritório", "Av. Paulista, 1578")


def test_shared_contact_cards_are_counted_not_kept(vault: SqliteVault) -> None:
    event = one_message("contacts", vault, text="Maria Souza")

    assert event.contacts_count == 1
    dumped_event = event.model_dump_json()
    assert "Maria" not in dumped_event
    assert "98888" not in dumped_event


def test_a_reaction_names_the_message_and_the_emoji(vault: SqliteVault) -> None:
    event = one_message("reaction", vault, reaction={"message_id": "wamid.ours", "emoji": "👍"})

    assert event.type is MessageType.REACTION
    assert event.reaction is not None
    assert event.reaction.message_ref == vault.message_ref("wamid.ours")
    assert event.reaction.emoji == "👍"


@pytest.mark.parametrize("reaction", [{"message_id": "wamid.ours"}, {"message_id": "wamid.ours",
                                                                      "emoji": ""}])  # fmt: skip
def test_a_removed_reaction_has_no_emoji(reaction: dict[str, str], vault: SqliteVault) -> None:
    event = one_message("reaction", vault, reaction=reaction)

    assert event.reaction is not None
    assert event.reaction.message_ref == vault.message_ref("wamid.ours")
    assert event.reaction.emoji is None


@pytest.mark.parametrize(
    ("interactive", "kind", "reply_id", "title"),
    [
        (
            {"type": "button_reply", "button_reply": {"id": "svc-custom", "title": "Sob medida"}},
            ReplyKind.BUTTON_REPLY,
            "svc-custom",
            "Sob medida",
        ),
        (
            {
                "type": "list_reply",
                "list_reply": {"id": "city-cps", "title": "Campinas", "description": "SP"},
            },
            ReplyKind.LIST_REPLY,
            "city-cps",
            "Campinas",
        ),
        (
            {
                "type": "nfm_reply",
                "nfm_reply": {
                    "name": "flow",
                    "body": "Sent",
                    "response_json": '{"flow_token": "t", "cpf": "123.456.789-09"}',
                },
            },
            ReplyKind.NFM_REPLY,
            "flow",
            "Sent",
        ),
    ],
    ids=["button_reply", "list_reply", "nfm_reply"],
)
def test_interactive_replies_keep_the_option_and_its_title(
    interactive: dict[str, Any], kind: ReplyKind, reply_id: str, title: str, vault: SqliteVault
) -> None:
    event = one_message("interactive", vault, interactive=interactive)

    assert event.type is MessageType.INTERACTIVE
    assert event.interactive is not None
    assert (event.interactive.kind, event.interactive.reply_id) == (kind, reply_id)
    assert event.body_sanitized == title
    assert "123.456.789-09" not in event.model_dump_json()


def test_a_template_quick_reply_is_a_button_with_its_payload(vault: SqliteVault) -> None:
    event = one_message("button", vault, text="Quero saber mais")

    assert event.type is MessageType.BUTTON
    assert event.interactive is not None
    assert (event.interactive.kind, event.interactive.reply_id) == (
        ReplyKind.TEMPLATE_BUTTON,
        "quero-saber-mais",
    )
    assert event.body_sanitized == "Quero saber mais"


def test_a_reply_keeps_what_it_answers_but_not_who_wrote_that(vault: SqliteVault) -> None:
    context = {"from": DIGITS, "id": "wamid.earlier", "forwarded": True}

    event = one_message("text", vault, text="isso", context=context)

    assert event.context is not None
    assert event.context.message_ref == vault.message_ref("wamid.earlier")
    assert event.context.forwarded
    assert not event.context.frequently_forwarded
    assert_no_phone(event.model_dump_json())


def test_a_click_to_whatsapp_referral_is_kept(vault: SqliteVault) -> None:
    referral = {
        "source_url": "https://fb.me/3cr4Wqqkv",
        "source_id": "120210377337290497",
        "source_type": "ad",
        "headline": "Software sob medida",
        "body": "Fale com a gente",
        "media_type": "image",
        "image_url": "https://scontent.xx.fbcdn.net/v/t45.1600-4/x.png",
        "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ-QTwRiyYHAFDLMNDBH0CD3qpjd0HR4irJ6LEkR7JwFF4XvnO2E4",
    }

    event = one_message("text", vault, text="oi", referral=referral)

    assert event.referral is not None
    assert event.referral.model_dump() == {
        key: referral[key]
        for key in ("source_type", "source_id", "source_url", "headline", "body", "ctwa_clid")
    }


def test_an_unsupported_message_keeps_its_error_code(vault: SqliteVault) -> None:
    event = one_message("unsupported", vault)

    assert (event.type, event.error_code, event.body_sanitized) == (
        MessageType.UNSUPPORTED,
        131051,
        None,
    )


def test_a_system_notice_is_kept_with_its_numbers_masked(vault: SqliteVault) -> None:
    item = samples.message("system", phone=PHONE, timestamp=SENT_AT)

    (envelope,) = run(samples.body(samples.change(messages=[item])), vault).envelopes

    event = envelope.event()
    assert isinstance(event, MessageReceived)
    assert event.type is MessageType.SYSTEM
    assert event.body_sanitized is not None
    assert event.body_sanitized.startswith("User changed from")
    assert "5511977776666" not in event.body_sanitized
    assert_no_phone(event.body_sanitized)


@pytest.mark.parametrize("wire_type", ["unknown", "poll_update", "some_future_type"])
def test_an_unknown_type_is_kept_under_its_own_name(wire_type: str, vault: SqliteVault) -> None:
    event = one_message(wire_type, vault)

    assert (event.type, event.original_type) == (MessageType.UNKNOWN, wire_type)


# Meta's documented shapes (webhooks reference: messages/order, messages/revoke,
# messages/edit, request_welcome).
ORDER = {
    "catalog_id": "1537312090392347",
    "text": f"entregar na portaria, interfone {PHONE}",
    "product_items": [
        {"product_retailer_id": "plano-pro", "quantity": 2, "item_price": 99.9,
         "currency": "BRL"},
        {"product_retailer_id": "setup", "quantity": 1, "item_price": 500, "currency": "BRL"},
    ],
}  # fmt: skip


def test_an_order_keeps_its_catalog_items_and_masked_note(vault: SqliteVault) -> None:
    event = one_message("order", vault, order=ORDER)

    assert event.type is MessageType.ORDER
    assert event.original_type is None
    assert event.order is not None
    assert event.order.catalog_id == "1537312090392347"
    assert [
        (item.product_retailer_id, item.quantity, item.item_price, item.currency)
        for item in event.order.items
    ] == [("plano-pro", 2, 99.9, "BRL"), ("setup", 1, 500, "BRL")]
    assert event.body_sanitized == "entregar na portaria, interfone [telefone]"


def test_a_welcome_request_is_a_message_of_its_own_type(vault: SqliteVault) -> None:
    event = one_message("request_welcome", vault)

    assert (event.type, event.original_type, event.body_sanitized) == (
        MessageType.REQUEST_WELCOME,
        None,
        None,
    )


def customer_event(kind: str, vault: SqliteVault, **parts: Any) -> Any:
    item = samples.message(kind, phone=PHONE, message_id=WAMID, timestamp=SENT_AT, **parts)
    payload = samples.body(samples.change(messages=[item], contacts=[samples.contact(PHONE)]))
    translation = run(payload, vault)
    assert translation.rejected == ()
    (envelope,) = translation.envelopes
    assert envelope.event_id == derived_event_id(vault.message_ref(WAMID), envelope.type)
    assert envelope.actor is Actor.USER
    return envelope.event()


def test_a_revoke_names_the_deleted_message_and_is_no_new_message(vault: SqliteVault) -> None:
    event = customer_event("revoke", vault, revoke={"original_message_id": "wamid.earlier"})

    assert event == MessageRevoked(
        wa_message_ref=vault.message_ref(WAMID),
        from_hash=phone_hash(vault),
        original_ref=vault.message_ref("wamid.earlier"),
        business_number_id=samples.BUSINESS_NUMBER_ID,
    )


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        ({"type": "text", "text": {"body": f"na verdade, {PHONE}"}}, "na verdade, [telefone]"),
        (
            {"type": "image", "image": {"id": "1", "mime_type": "image/jpeg", "caption": "nova"}},
            "nova",
        ),
    ],
    ids=["text", "caption"],
)
def test_an_edit_names_the_message_and_its_new_masked_text(
    content: dict[str, Any], shown: str, vault: SqliteVault
) -> None:
    edit = {"original_message_id": "wamid.earlier", "message": {"context": {"id": "wamid.x"},
                                                                 **content}}  # fmt: skip

    event = customer_event("edit", vault, edit=edit)

    assert event == MessageEdited(
        wa_message_ref=vault.message_ref(WAMID),
        from_hash=phone_hash(vault),
        original_ref=vault.message_ref("wamid.earlier"),
        body_sanitized=shown,
        business_number_id=samples.BUSINESS_NUMBER_ID,
    )


@pytest.mark.parametrize("kind", ["revoke", "edit"])
def test_a_revoke_or_edit_naming_no_message_is_set_aside(kind: str, vault: SqliteVault) -> None:
    item = samples.message(kind, phone=PHONE)

    assert f"value 0 message 0: {kind}: names no original_message_id" == rejected_alone(item, vault)


def test_a_numeric_timestamp_is_read_as_a_string_one_is(vault: SqliteVault) -> None:
    item = samples.message("text", phone=PHONE, text="oi", timestamp=SENT_AT)
    item["timestamp"] = SENT_AT

    (envelope,) = run(samples.body(samples.change(messages=[item])), vault).envelopes

    assert envelope.occurred_at == datetime.fromtimestamp(SENT_AT, UTC)


# --- statuses --------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["sent", "delivered", "read", "failed"])
def test_each_status_is_reported_with_an_id_from_wamid_and_status(
    state: str, vault: SqliteVault
) -> None:
    error_code = 131047 if state == "failed" else None
    item = samples.status(
        state, phone=PHONE, message_id=WAMID, error_code=error_code, timestamp=SENT_AT
    )

    translation = run(samples.body(samples.change(statuses=[item])), vault)

    (envelope,) = translation.envelopes
    assert (translation.messages, translation.statuses) == (0, 1)
    ref = vault.message_ref(WAMID)
    assert envelope.event_id == derived_event_id(f"{ref}:{state}", "WhatsAppStatusReported")
    assert (envelope.type, envelope.actor) == ("WhatsAppStatusReported", Actor.SYSTEM)
    assert envelope.occurred_at == datetime.fromtimestamp(SENT_AT, UTC)
    assert envelope.event() == WhatsAppStatusReported(
        wa_message_ref=ref,
        status=MessageStatus(state.upper()),
        to_hash=phone_hash(vault),
        error_code=error_code,
        error_title="Re-engagement message" if error_code else None,
        business_number_id=samples.BUSINESS_NUMBER_ID,
    )
    assert number_in(vault, phone_hash(vault)) is None, "a status does not write to the vault"


def test_statuses_of_one_message_have_distinct_ids(vault: SqliteVault) -> None:
    items = [samples.status(s, phone=PHONE, message_id=WAMID) for s in ("sent", "read")]

    translation = run(samples.body(samples.change(statuses=items)), vault)

    assert len({envelope.event_id for envelope in translation.envelopes}) == 2
    assert len({envelope.stream_id for envelope in translation.envelopes}) == 2


def test_a_failed_status_without_a_recipient_is_still_reported(vault: SqliteVault) -> None:
    item = samples.status("failed", phone=None, message_id=WAMID, error_code=131026)

    (envelope,) = run(samples.body(samples.change(statuses=[item])), vault).envelopes

    assert (envelope.payload["to_hash"], envelope.payload["error_code"]) == (None, 131026)


GROUP_ID = "Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjMzOTQ2NzIwNzEzMjQZD"


def test_a_status_of_a_message_sent_to_a_group_is_reported(vault: SqliteVault) -> None:
    """As Meta documents it: `recipient_type` group, `recipient_id` the group's id and
    `recipient_participant_id` the member."""
    item = samples.status("delivered", phone=None, message_id=WAMID, timestamp=SENT_AT)
    item.update(recipient_type="group", recipient_id=GROUP_ID, recipient_participant_id=DIGITS)

    translation = run(samples.body(samples.change(statuses=[item])), vault)

    assert translation.rejected == ()
    (envelope,) = translation.envelopes
    assert envelope.event() == WhatsAppStatusReported(
        wa_message_ref=vault.message_ref(WAMID),
        status=MessageStatus.DELIVERED,
        to_hash=None,
        business_number_id=samples.BUSINESS_NUMBER_ID,
    )
    assert_no_phone(envelope.model_dump_json())


def test_a_status_outside_sent_delivered_read_failed_is_counted_not_published(
    vault: SqliteVault,
) -> None:
    items = [samples.status("deleted", phone=PHONE), samples.status("read", phone=PHONE)]

    translation = run(samples.body(samples.change(statuses=items)), vault)

    assert (translation.statuses, translation.ignored_statuses) == (1, 1)
    assert [e.payload["status"] for e in translation.envelopes] == ["READ"]


# --- batches and redelivery -------------------------------------------------------------


def batched_body() -> dict[str, Any]:
    def text(n: int) -> dict[str, Any]:
        return samples.message("text", phone=PHONE, text=f"m{n}", message_id=f"wamid.m{n}")

    return samples.body(
        samples.change(messages=[text(1), text(2)], contacts=[samples.contact(PHONE)]),
        samples.change(statuses=[samples.status("read", phone=PHONE, message_id="wamid.o1")]),
        samples.change(messages=[text(3)], statuses=[samples.status("sent", phone=PHONE)]),
        samples.change(messages=[text(4)]),
        entries=2,
    )


def test_every_entry_change_message_and_status_of_a_batch_is_translated(
    vault: SqliteVault,
) -> None:
    payload = batched_body()
    assert [len(entry["changes"]) for entry in payload["entry"]] == [2, 2]

    translation = run(payload, vault)

    assert (translation.messages, translation.statuses) == (4, 2)
    assert [e.payload.get("body_sanitized") for e in translation.envelopes] == [
        "m1",
        "m2",
        None,
        "m3",
        None,
        "m4",
    ]


def test_a_redelivered_body_yields_the_same_envelopes(vault: SqliteVault) -> None:
    payload = batched_body()

    first, second = run(payload, vault), run(payload, vault)

    assert first.envelopes == second.envelopes
    assert len({envelope.event_id for envelope in first.envelopes}) == 6


def test_changes_of_other_fields_are_not_read(vault: SqliteVault) -> None:
    payload = samples.body(
        {"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT", "phone_number": DIGITS}},
        samples.change(messages=[samples.message("text", phone=PHONE, text="oi")]),
    )

    translation = run(payload, vault)

    assert translation.messages == 1


@pytest.mark.parametrize(
    "kind", [kind for kind in samples.SampleKind if kind is not samples.SampleKind.STATUS]
)
def test_no_number_in_clear_in_anything_published(
    kind: samples.SampleKind, vault: SqliteVault
) -> None:
    payload = samples.sample(kind, phone=PHONE, text="Olá")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["context"] = {
        "from": DIGITS,
        "id": "wamid.x",
    }

    translation = run(payload, vault)

    assert translation.messages == 1
    assert_no_phone(dumped(translation.envelopes))


# --- what is rejected ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "not JSON"),
        (b"{not json", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (b'["whatsapp_business_account"]', "not a WhatsApp messages webhook"),
        (b'{"object": "page", "entry": []}', "object"),
        (b'{"object": "whatsapp_business_account"}', "entry"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (
            b'{"object":"whatsapp_business_account","entry":[{"id":"1","changes":'
            b'[{"field":"messages"}]}]}',
            "a messages change has no value",
        ),
    ],
)
def test_a_body_that_is_not_a_messages_webhook_is_rejected(raw: bytes, reason: str) -> None:
    with pytest.raises(PayloadRejected, match=reason):
        parse_body(raw)


def rejected_alone(item: dict[str, Any], vault: SqliteVault) -> str:
    """The reason the only message of a body was set aside; nothing is published."""
    translation = run(samples.body(samples.change(messages=[item])), vault)
    assert translation.envelopes == ()
    (part,) = translation.rejected
    assert json.loads(part.raw) == item
    return part.reason


def test_a_timestamp_beyond_what_a_datetime_holds_is_rejected(vault: SqliteVault) -> None:
    item = samples.message("text", phone=PHONE, text="oi", timestamp=10**12)

    assert "timestamp" in rejected_alone(item, vault)


def test_a_message_without_a_sender_is_rejected(vault: SqliteVault) -> None:
    item = samples.message("text", phone=None, text="oi")

    assert "value 0 message 0: names no sender" in rejected_alone(item, vault)


def test_a_rejection_names_the_place_but_never_quotes_the_body(vault: SqliteVault) -> None:
    bad = samples.message("location", phone=PHONE, location={"latitude": 200, "longitude": 0})
    bad["text"] = {"body": f"meu número é {PHONE}"}

    reason = rejected_alone(bad, vault)

    assert "value 0 message 0" in reason
    assert "latitude" in reason
    assert_no_phone(reason)


def test_an_invalid_message_id_is_rejected_without_quoting_it(vault: SqliteVault) -> None:
    item = samples.message("text", phone=PHONE, text="oi", message_id="")
    item["from"] = DIGITS

    reason = rejected_alone(item, vault)

    assert "value 0 message 0: id" in reason
    assert_no_phone(reason)


def test_one_malformed_message_does_not_sink_its_siblings(vault: SqliteVault) -> None:
    first, second = (samples.message("text", phone=PHONE, text=t) for t in ("antes", "depois"))
    untyped = samples.message("text", phone=PHONE, text=f"sem tipo {PHONE}")
    del untyped["type"]
    status = samples.status("read", phone=PHONE)
    payload = samples.body(
        samples.change(messages=[first, untyped], contacts=[samples.contact(PHONE)]),
        samples.change(messages=[second], statuses=[status]),
    )

    translation = run(payload, vault)

    ref = vault.message_ref
    assert [e.payload["wa_message_ref"] for e in translation.envelopes] == [
        ref(first["id"]),
        ref(second["id"]),
        ref(status["id"]),
    ]
    assert (translation.messages, translation.statuses) == (2, 1)
    (part,) = translation.rejected
    assert part.reason == "value 0 message 1: type: Field required"
    assert json.loads(part.raw) == untyped


def test_one_malformed_status_is_set_aside_alone(vault: SqliteVault) -> None:
    good = samples.status("delivered", phone=PHONE)
    bad = samples.status("read", phone=PHONE)
    del bad["id"]

    translation = run(samples.body(samples.change(statuses=[bad, good])), vault)

    assert [e.payload["status"] for e in translation.envelopes] == ["DELIVERED"]
    (part,) = translation.rejected
    assert part.reason == "value 0 status 0: id: Field required"
    assert json.loads(part.raw) == bad


def test_published_payloads_are_plain_json(vault: SqliteVault) -> None:
    (envelope,) = run(
        samples.sample(samples.SampleKind.TEXT, phone=PHONE, text="x"), vault
    ).envelopes

    assert EventEnvelope.from_json(envelope.to_json()) == envelope
    assert json.loads(envelope.to_json())["payload"]["body_sanitized"] == "x"


# --- identity: a changed number ----------------------------------------------------------


@pytest.mark.parametrize("field", ["wa_id", "new_wa_id"])
def test_a_changed_number_moves_the_contact_s_identity(vault: SqliteVault, field: str) -> None:
    first = one_message("text", vault, text="oi")
    notice = samples.message("system", phone=PHONE, text="", timestamp=SENT_AT)
    notice["system"] = {"body": "User changed", "type": "user_changed_number",
                        field: "5511977776666"}  # fmt: skip

    (envelope,) = run(samples.body(samples.change(messages=[notice])), vault).envelopes
    after = samples.message("text", phone="+5511977776666", text="oi", timestamp=SENT_AT)
    (later,) = run(samples.body(samples.change(messages=[after])), vault).envelopes

    assert envelope.payload["from_hash"] == first.from_hash
    assert later.payload["from_hash"] == first.from_hash, "one contact, one lead"
    assert number_in(vault, first.from_hash) == "+5511977776666"
    identity = vault.reveal(first.from_hash)
    assert identity is not None
    assert identity.profile_name == "Ana Lima"


def test_a_bsuid_first_and_a_number_later_are_one_contact(vault: SqliteVault) -> None:
    alone = samples.message("text", phone=None, text="oi", user_id=BSUID, timestamp=SENT_AT)
    both = samples.message("text", phone=PHONE, text="oi", user_id=BSUID, timestamp=SENT_AT)
    number = samples.message("text", phone=PHONE, text="oi", timestamp=SENT_AT)

    hashes = [
        run(samples.body(samples.change(messages=[item])), vault).envelopes[0].payload["from_hash"]
        for item in (alone, both, number)
    ]

    assert len(set(hashes)) == 1
    assert number_in(vault, hashes[0]) == PHONE


# --- what Meta passes along is masked like what the customer typed ----------------------

OTHER_NUMBER = "5521988887777"
"""A number that is not the sender's: it can only reach an event through the field."""


def _no_number_in(payload: dict[str, Any]) -> None:
    text = json.dumps(payload, ensure_ascii=False)
    assert OTHER_NUMBER not in text
    assert "988887777" not in text


def test_a_chosen_option_s_id_and_an_ad_s_link_are_masked(vault: SqliteVault) -> None:
    interactive = {
        "type": "button_reply",
        "button_reply": {"id": f"ligar-{OTHER_NUMBER}", "title": "Me ligue"},
    }
    referral = {
        "source_type": "ad",
        "source_id": OTHER_NUMBER,
        "source_url": f"https://wa.me/{OTHER_NUMBER}?text=oi",
        "headline": "Fale conosco",
    }
    event = one_message("interactive", vault, interactive=interactive, referral=referral)

    _no_number_in(event.model_dump(mode="json"))
    assert event.interactive is not None
    assert event.interactive.reply_id == "ligar-[telefone]"
    assert event.referral is not None
    assert event.referral.source_url == "https://wa.me/[telefone]?text=oi"


def test_a_template_button_s_payload_is_masked(vault: SqliteVault) -> None:
    button = {"payload": f"CALL {OTHER_NUMBER}", "text": "Ligar"}

    event = one_message("button", vault, button=button)

    assert event.interactive is not None
    assert event.interactive.reply_id == "CALL [telefone]"


def test_the_title_of_a_failed_status_is_masked(vault: SqliteVault) -> None:
    failed = samples.status("failed", phone=PHONE, error_code=131026, timestamp=SENT_AT)
    failed["errors"][0]["title"] = f"Message undeliverable to +{OTHER_NUMBER}"

    translation = run(samples.body(samples.change(statuses=[failed])), vault)

    (envelope,) = translation.envelopes
    _no_number_in(envelope.payload)
    assert envelope.payload["error_title"] == "Message undeliverable to [telefone]"


NEW_BSUID = "BR.2660194421398847"


def user_id_notice(sender: str | None, **system: str) -> dict[str, Any]:
    notice = samples.message("system", phone=None, user_id=sender, text="", timestamp=SENT_AT)
    notice["system"] = {"body": "User changed", "type": "user_changed_user_id", **system}
    return notice


@pytest.mark.parametrize("sender", ["old", "new"])
def test_a_changed_user_id_moves_a_contact_known_only_by_it(
    vault: SqliteVault, sender: str
) -> None:
    """Meta names the notice's sender by the old id or the new one: either way the
    contact is found by `previous_user_id` and keeps its lead."""
    alone = samples.message("text", phone=None, text="oi", user_id=BSUID, timestamp=SENT_AT)
    (first,) = run(samples.body(samples.change(messages=[alone])), vault).envelopes
    from_hash = first.payload["from_hash"]
    notice = user_id_notice(
        BSUID if sender == "old" else NEW_BSUID, user_id=NEW_BSUID, previous_user_id=BSUID
    )

    (moved,) = run(samples.body(samples.change(messages=[notice])), vault).envelopes
    later = samples.message("text", phone=None, text="oi", user_id=NEW_BSUID, timestamp=SENT_AT)
    (after,) = run(samples.body(samples.change(messages=[later])), vault).envelopes

    assert moved.payload["from_hash"] == from_hash
    assert after.payload["from_hash"] == from_hash, "one contact, one lead"
    identity = vault.reveal(from_hash)
    assert identity is not None
    assert identity.bsuid == NEW_BSUID
    assert NEW_BSUID not in json.dumps(moved.payload)


def test_a_number_change_that_also_renews_the_user_id_moves_both(vault: SqliteVault) -> None:
    both = samples.message("text", phone=PHONE, text="oi", user_id=BSUID, timestamp=SENT_AT)
    (first,) = run(samples.body(samples.change(messages=[both])), vault).envelopes
    notice = samples.message("system", phone=PHONE, user_id=NEW_BSUID, text="", timestamp=SENT_AT)
    notice["system"] = {
        "body": "User changed", "type": "user_changed_number", "wa_id": "5511977776666",
        "user_id": NEW_BSUID, "previous_user_id": BSUID,
    }  # fmt: skip

    (moved,) = run(samples.body(samples.change(messages=[notice])), vault).envelopes

    assert moved.payload["from_hash"] == first.payload["from_hash"]
    identity = vault.reveal(first.payload["from_hash"])
    assert identity is not None
    assert (identity.e164, identity.bsuid) == ("+5511977776666", NEW_BSUID)
