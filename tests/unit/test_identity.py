"""One contact per person: normalising phone numbers, and choosing the identity."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.identity import (
    InvalidIdentity,
    InvalidPhoneNumber,
    contact_identity,
    normalise_e164,
)


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+55 (11) 99999-0001", "+5511999990001"),
        ("+5511999990001", "+5511999990001"),
        ("5511999990001", "+5511999990001"),  # a wa_id: no '+'
        ("551199990001", "+5511999990001"),  # a wa_id without the ninth digit
        ("+55 11 9999-0001", "+5511999990001"),
        ("55 21 8888-7777", "+5521988887777"),
        ("+55 (31) 6123-4567", "+5531961234567"),  # old mobiles also started with 6 and 7
        ("+55 (11) 3333-4444", "+551133334444"),  # a landline never gets a 9
        ("+55 51 2345-6789", "+555123456789"),
        ("+55 61 5432-1000", "+556154321000"),
        ("  +55\u00a011 99999 0001 ", "+5511999990001"),
        ("+55.11.99999.0001", "+5511999990001"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("14155552671", "+14155552671"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+351 912 345 678", "+351912345678"),
        ("+683 4002", "+6834002"),  # Niue: 7 digits in all
    ],
)
def test_numbers_normalise_to_e164(raw: str, e164: str) -> None:
    assert normalise_e164(raw) == e164


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("+", "empty"),
        ("abc", "only digits"),
        ("+55 11 99999-0001 ramal 2", "only digits"),
        ("+55+11999990001", "only digits"),
        ("11 99999-0001x", "only digits"),
        ("0055 11 99999-0001", "starts with 0"),
        ("(011) 99999-0001", "starts with 0"),
        ("+123456", "7 to 15 digits"),
        ("+1234567890123456", "7 to 15 digits"),
        ("+55 01 99999-0001", "area code"),
        ("+55 10 99999-0001", "area code"),
        ("+55 11 89999-0001", "starts with 9"),
        ("+55 11 1999-0001", "landline starts with 2-5"),
        ("+55 11 0999-0001", "landline starts with 2-5"),
        ("+55 11 999-0001", "10 or 11 digits"),
        ("+55 11 999990-0012", "10 or 11 digits"),
    ],
)
def test_what_is_not_a_phone_number_is_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=reason):
        normalise_e164(raw)


def test_the_error_does_not_repeat_the_number() -> None:
    with pytest.raises(InvalidPhoneNumber) as raised:
        normalise_e164("+55 11 89999-0001")

    assert "8999" not in str(raised.value)


# -- properties --------------------------------------------------------------------

AREA_CODES = st.integers(11, 99).filter(lambda ddd: "0" not in str(ddd)).map(str)
DIGITS = st.text("0123456789", min_size=7, max_size=7)
OLD_MOBILES = st.builds(lambda first, rest: first + rest, st.sampled_from("6789"), DIGITS)
LANDLINES = st.builds(lambda first, rest: first + rest, st.sampled_from("2345"), DIGITS)


@st.composite
def formatted(draw: st.DrawFn, digits: str) -> str:
    """`digits` (an international number) as people and WhatsApp write it."""
    plus = draw(st.sampled_from(["+", "", "+ "]))
    separators = st.sampled_from(["", " ", "-", ".", "  "])
    pieces = []
    rest = digits
    while rest:
        size = draw(st.integers(1, 4))
        pieces.append(rest[:size])
        rest = rest[size:]
    text = pieces[0]
    for piece in pieces[1:]:
        text += draw(separators) + piece
    if draw(st.booleans()) and len(pieces) > 1:
        text = f"{pieces[0]} ({pieces[1]}) " + "".join(pieces[2:])
    before: str = draw(st.sampled_from([" ", ""]))
    after: str = draw(st.sampled_from([" ", ""]))
    return before + plus + text + after


@st.composite
def brazilian_numbers(draw: st.DrawFn) -> str:
    ddd = draw(AREA_CODES)
    subscriber: str = draw(st.one_of(OLD_MOBILES, LANDLINES, OLD_MOBILES.map(lambda s: "9" + s)))
    return "55" + ddd + subscriber


INTERNATIONAL = st.builds(
    lambda country, rest: country + rest,
    st.sampled_from(["1", "44", "351", "49", "598", "54"]),
    st.text("0123456789", min_size=8, max_size=10),
)


@given(st.one_of(brazilian_numbers(), INTERNATIONAL))
def test_normalising_is_idempotent(digits: str) -> None:
    once = normalise_e164(digits)

    assert normalise_e164(once) == once


@given(st.data(), st.one_of(brazilian_numbers(), INTERNATIONAL))
def test_formatting_noise_does_not_matter(data: st.DataObject, digits: str) -> None:
    assert normalise_e164(data.draw(formatted(digits))) == normalise_e164(digits)


@given(AREA_CODES, OLD_MOBILES)
def test_a_mobile_with_and_without_its_ninth_digit_is_one_contact(
    ddd: str, subscriber: str
) -> None:
    with_nine = normalise_e164(f"+55 ({ddd}) 9{subscriber[:4]}-{subscriber[4:]}")
    without = normalise_e164(f"55{ddd}{subscriber}")

    assert with_nine == without == f"+55{ddd}9{subscriber}"


@given(AREA_CODES, LANDLINES)
def test_a_landline_keeps_its_eight_digits(ddd: str, subscriber: str) -> None:
    assert normalise_e164(f"55{ddd}{subscriber}") == f"+55{ddd}{subscriber}"


# -- which identity keys a contact ---------------------------------------------------


def test_the_business_scoped_user_id_wins_over_the_phone() -> None:
    assert contact_identity("BR.1502576394655843", "5511999990001") == "BR.1502576394655843"
    assert contact_identity(" US.ENT.11815799212886844830 ", None) == "US.ENT.11815799212886844830"


def test_without_a_user_id_the_phone_is_normalised() -> None:
    assert contact_identity(None, "551199990001") == "+5511999990001"
    assert contact_identity("", "+55 11 99999-0001") == "+5511999990001"


@pytest.mark.parametrize(("user_id", "phone"), [(None, None), ("", ""), ("  ", None)])
def test_a_contact_needs_a_user_id_or_a_phone(user_id: str | None, phone: str | None) -> None:
    with pytest.raises(InvalidIdentity, match="neither"):
        contact_identity(user_id, phone)


@pytest.mark.parametrize("user_id", ["BR 123", "BR/123", "x" * 161, "BR.1ç"])
def test_a_malformed_user_id_is_refused(user_id: str) -> None:
    with pytest.raises(InvalidIdentity, match="business-scoped user id"):
        contact_identity(user_id, "+5511999990001")


def test_a_bad_phone_is_an_invalid_identity() -> None:
    with pytest.raises(InvalidIdentity):
        contact_identity(None, "12")
