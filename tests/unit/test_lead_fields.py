"""Inference is not fact (invariant 5): `judge_field` applies a value only at or above
the confidence threshold, calls it the user's only when the evidence message says it
word for word, and never lets an inference overwrite what the user said."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.events import (
    FieldRejectionReason,
    LeadFieldCollected,
    LeadFieldRejected,
    LeadStatusChanged,
)
from contracts.ports.responder import FieldGuess
from contracts.streams import lead_stream
from contracts.vocabulary import FieldSource, LeadField, LeadStatus, ServiceInterest
from domain.lead import Collected, Lead, judge_field, stated_in
from tests.unit.domain_world import World, contact, hex64

THRESHOLD = 0.8
EVIDENCE = hex64("wamid", "evidence")


def lead_holding(**held: tuple[str, FieldSource]) -> Lead:
    collected = {
        LeadField(name): Collected(
            value=value, source=source, confidence=0.9, evidence_ref=EVIDENCE
        )
        for name, (value, source) in held.items()
    }
    return Lead(lead_id="l1", from_hash=contact("ana"), session_id="s1", collected=collected)


def guess(value: str, confidence: float = 0.9, field: LeadField = LeadField.CITY) -> FieldGuess:
    return FieldGuess(field=field, value=value, confidence=confidence, evidence_ref=EVIDENCE)


# --- the threshold -----------------------------------------------------------------------


@pytest.mark.parametrize("text", ["moro em Campinas", "acho que sou do interior"])
def test_below_the_threshold_a_value_is_rejected_whatever_its_source(text: str) -> None:
    judged = judge_field(lead_holding(), guess("Campinas", 0.79), text, THRESHOLD)

    assert isinstance(judged, LeadFieldRejected)
    assert judged.reason is FieldRejectionReason.BELOW_THRESHOLD
    assert (judged.confidence, judged.threshold) == (0.79, THRESHOLD)
    assert judged.evidence_message_ref == EVIDENCE


def test_at_the_threshold_a_value_is_applied() -> None:
    judged = judge_field(lead_holding(), guess("Sorocaba", THRESHOLD), "eu acho", THRESHOLD)
    assert isinstance(judged, LeadFieldCollected)
    assert (judged.source, judged.inferred) == (FieldSource.LLM, True)


# --- stated or inferred ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("São Paulo", "Sou de São Paulo!"),
        ("sao paulo", "SÃO PAULO, capital"),
        ("São Paulo", "moro em sao-paulo."),
        ("Acme Ltda.", "trabalho na ACME LTDA"),
        ("até junho", "preciso ATE JUNHO, no máximo"),
        ("  Campinas  ", "campinas"),
    ],
)
def test_a_value_said_word_for_word_is_the_users(value: str, text: str) -> None:
    assert stated_in(value, text)
    judged = judge_field(lead_holding(), guess(value), text, THRESHOLD)
    assert isinstance(judged, LeadFieldCollected)
    assert (judged.source, judged.inferred) == (FieldSource.USER, False)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("São Paulo", "sou paulista"),
        ("ana", "quero uma banana"),  # inside a word is not the word
        ("Campinas", None),
        ("São Paulo", "paulo são"),
        ("!!!", "!!!"),  # nothing left to find once punctuation goes
    ],
)
def test_a_value_not_said_word_for_word_is_an_inference(value: str, text: str | None) -> None:
    assert not stated_in(value, text)
    judged = judge_field(lead_holding(), guess(value), text, THRESHOLD)
    assert isinstance(judged, LeadFieldCollected)
    assert (judged.source, judged.inferred) == (FieldSource.LLM, True)


# --- what the lead holds already --------------------------------------------------------


def test_an_inference_never_overwrites_what_the_user_said() -> None:
    lead = lead_holding(city=("Campinas", FieldSource.USER))
    judged = judge_field(lead, guess("Sorocaba", 0.99), "fica perto da capital", THRESHOLD)

    assert isinstance(judged, LeadFieldRejected)
    assert judged.reason is FieldRejectionReason.USER_VALUE_KEPT
    assert (judged.source, judged.inferred) == (FieldSource.LLM, True)


def test_what_the_user_says_overwrites_an_inference() -> None:
    lead = lead_holding(city=("Campinas", FieldSource.LLM))
    judged = judge_field(lead, guess("Sorocaba"), "na verdade é Sorocaba", THRESHOLD)

    assert isinstance(judged, LeadFieldCollected)
    assert (judged.value, judged.source) == ("Sorocaba", FieldSource.USER)


def test_the_user_may_correct_what_the_user_said() -> None:
    lead = lead_holding(city=("Campinas", FieldSource.USER))
    judged = judge_field(lead, guess("Sorocaba"), "me mudei, agora Sorocaba", THRESHOLD)
    assert isinstance(judged, LeadFieldCollected)
    assert judged.source is FieldSource.USER


def test_the_user_confirming_an_inference_makes_it_theirs() -> None:
    lead = lead_holding(city=("Campinas", FieldSource.LLM))
    judged = judge_field(lead, guess("campinas"), "isso, Campinas", THRESHOLD)
    assert isinstance(judged, LeadFieldCollected)
    assert judged.source is FieldSource.USER


@pytest.mark.parametrize(
    ("held", "value", "text"),
    [
        (FieldSource.LLM, "Campinas", "acho que é no interior"),
        (FieldSource.LLM, "CAMPINAS", None),
        (FieldSource.USER, "Campinas", "Campinas, já disse"),
        (FieldSource.USER, "campinas", "é no interior"),
    ],
)
def test_the_same_value_again_changes_nothing(
    held: FieldSource, value: str, text: str | None
) -> None:
    lead = lead_holding(city=("Campinas", held))
    assert judge_field(lead, guess(value), text, THRESHOLD) is None


@pytest.mark.parametrize(
    "value", ["custom software", "CUSTOM SOFTWARE", "custom_software", "WEBSITE"]
)
def test_a_service_interest_outside_the_catalogue_is_not_recorded(value: str) -> None:
    field = LeadField.SERVICE_INTEREST
    assert judge_field(lead_holding(), guess(value, 0.99, field), value, THRESHOLD) is None


@pytest.mark.parametrize("interest", list(ServiceInterest))
def test_a_service_interest_in_the_catalogue_is_recorded(interest: ServiceInterest) -> None:
    field = LeadField.SERVICE_INTEREST
    judged = judge_field(
        lead_holding(), guess(interest.value, 0.9, field), "quero um app", THRESHOLD
    )
    assert isinstance(judged, LeadFieldCollected)
    assert judged.value == interest.value


# --- the rule as a property -------------------------------------------------------------

WORDS = ["Campinas", "São Paulo", "sao paulo", "Acme", "ACME", "até junho", "R$ 10 mil", "x"]
values = st.sampled_from(WORDS) | st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=20
).filter(lambda v: v.strip())
confidences = st.floats(0, 1) | st.sampled_from([0.0, 0.79, THRESHOLD, 0.8000001, 1.0])
held_values = st.none() | st.tuples(values, st.sampled_from(FieldSource))


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(LeadField),
    value=values,
    confidence=confidences,
    held=held_values,
    evidence=st.none() | st.sampled_from(WORDS) | st.text(max_size=40),
    threshold=st.sampled_from([0.0, 0.5, THRESHOLD, 1.0]),
    quote=st.booleans(),
)
def test_any_guess_is_ignored_or_recorded_with_its_source_and_applied_only_when_confident(
    field: LeadField,
    value: str,
    confidence: float,
    held: tuple[str, FieldSource] | None,
    evidence: str | None,
    threshold: float,
    quote: bool,
) -> None:
    if field is LeadField.SERVICE_INTEREST and quote:
        value = ServiceInterest.OTHER.value
    text = f"{evidence or ''} {value}, ok" if quote else evidence
    lead = lead_holding(**({field.value: held} if held else {}))
    guessed = guess(value, confidence, field)

    judged = judge_field(lead, guessed, text, threshold)

    if judged is None:
        outside = field is LeadField.SERVICE_INTEREST and value not in set(ServiceInterest)
        assert outside or held is not None
        return
    assert (judged.field, judged.value, judged.confidence) == (field, guessed.value, confidence)
    assert judged.evidence_message_ref == EVIDENCE
    assert judged.inferred == (judged.source is FieldSource.LLM)
    stated = stated_in(guessed.value, text)
    assert judged.source is (FieldSource.USER if stated else FieldSource.LLM)
    if quote and value in [*WORDS, ServiceInterest.OTHER.value]:
        assert judged.source is FieldSource.USER  # quoted word for word
    if isinstance(judged, LeadFieldCollected):
        assert confidence >= threshold
        assert not (held and held[1] is FieldSource.USER and judged.inferred)
    else:
        below = confidence < threshold
        assert judged.reason is (
            FieldRejectionReason.BELOW_THRESHOLD if below else FieldRejectionReason.USER_VALUE_KEPT
        )
        if not below:
            assert held is not None
            assert held[1] is FieldSource.USER
            assert judged.inferred


# --- as a reply applies it ---------------------------------------------------------------


def test_a_reply_applies_confident_fields_and_records_weak_ones_without_applying_them() -> None:
    world, who = World(), contact("ana")
    delivered = world.receive(who, "Sou da Acme, em Campinas, e quero um app")
    session_id = delivered.recorded.session_id if delivered.recorded else ""
    ref = delivered.ref
    fields = [
        FieldGuess(field=LeadField.COMPANY_NAME, value="Acme", confidence=0.95, evidence_ref=ref),
        FieldGuess(field=LeadField.CITY, value="Campinas", confidence=0.5, evidence_ref=ref),
        FieldGuess(
            field=LeadField.BUDGET_RANGE, value="R$ 50 mil", confidence=0.9, evidence_ref=ref
        ),
        FieldGuess(
            field=LeadField.BUDGET_RANGE, value="R$ 5 mil", confidence=0.6, evidence_ref=ref
        ),
    ]
    world.answer(session_id, fields=fields)

    lead = world.lead_of(who)
    assert lead is not None
    assert lead.values() == {LeadField.COMPANY_NAME: "Acme", LeadField.BUDGET_RANGE: "R$ 50 mil"}
    assert lead.collected[LeadField.COMPANY_NAME].source is FieldSource.USER
    assert lead.collected[LeadField.BUDGET_RANGE].source is FieldSource.LLM
    recorded = world.events(lead_stream(lead.lead_id))
    rejected = [e for e in recorded if isinstance(e, LeadFieldRejected)]
    assert [(e.field, e.reason) for e in rejected] == [
        (LeadField.CITY, FieldRejectionReason.BELOW_THRESHOLD)
    ]
    assert any(
        isinstance(e, LeadStatusChanged) and e.status is LeadStatus.QUALIFYING for e in recorded
    )


def test_a_field_citing_a_message_the_draft_does_not_answer_is_ignored() -> None:
    world, who = World(), contact("ana")
    first = world.receive(who, "moro em Campinas")
    session_id = first.recorded.session_id if first.recorded else ""
    world.answer(session_id)
    world.advance(timedelta(minutes=1))
    world.receive(who, "e aí?")
    cited_elsewhere = FieldGuess(
        field=LeadField.CITY, value="Campinas", confidence=0.99, evidence_ref=first.ref
    )
    world.answer(session_id, fields=[cited_elsewhere])

    lead = world.lead_of(who)
    assert lead is not None
    assert LeadField.CITY not in lead.collected
    kinds = {type(e) for e in world.events(lead_stream(lead.lead_id))}
    assert not kinds & {LeadFieldCollected, LeadFieldRejected}
