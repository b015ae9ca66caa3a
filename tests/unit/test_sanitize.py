"""`body_sanitized`: personal data masked, everything else left as the customer wrote it."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from domain.sanitize import sanitize_text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # phones, Brazilian
        ("meu zap é +55 (11) 99999-0001, me chama", "meu zap é [telefone], me chama"),
        ("+5511999990001", "[telefone]"),
        ("5511999990001", "[telefone]"),
        ("551199990001", "[telefone]"),
        ("liga no (11) 9 9999-0001 ou 11 3333-4444", "liga no [telefone] ou [telefone]"),
        ("(11)99999-0001", "[telefone]"),
        ("(011) 99999-0001", "[telefone]"),
        ("11 99999 0001", "[telefone]"),
        ("11.99999.0001", "[telefone]"),
        ("11999990001", "[telefone]"),
        ("Tel:1133334444.", "Tel:[telefone]."),
        ("55 21 98888-7777", "[telefone]"),
        ("ligue 3333-4444 ou 99999-0001.", "ligue [telefone] ou [telefone]."),
        ("celular 9 9999-0001", "celular [telefone]"),
        ("celular 999990001", "celular [telefone]"),
        ("99999-0001,99999-0002", "[telefone],[telefone]"),
        ("https://wa.me/5511999990001?text=oi", "https://wa.me/[telefone]?text=oi"),
        ("tel:+5511999990001", "tel:[telefone]"),
        # phones, elsewhere
        ("+1 (415) 555-2671", "[telefone]"),
        ("+44 20 7946 0958", "[telefone]"),
        ("+351 912 345 678 é o de Lisboa", "[telefone] é o de Lisboa"),
        ("x+4915112345678", "x[telefone]"),
        (
            "User A changed from 972987654321 to 972912345678",
            "User A changed from [telefone] to [telefone]",
        ),
        ("(415) 555-2671", "[telefone]"),
        ("44 20 7946 0958", "[telefone]"),
        ("447911123456", "[telefone]"),
        ("351.912.345.678", "[telefone]"),
        ("protocolo 20241125001", "protocolo [telefone]"),  # the price of the rule above
        ("cpf 12345678901", "cpf [telefone]"),  # not a CPF (check digits), 11 digits
        # e-mail
        ("email: joao.silva+vendas@empresa.com.br!", "email: [email]!"),
        ("MARIA@EXEMPLO.COM", "[email]"),
        ("joão@café.com.br", "[email]"),
        ("mailto:contato@loja.com", "mailto:[email]"),
        ("11999990001@s.whatsapp.net", "[email]"),
        # CPF
        ("cpf 529.982.247-25", "cpf [cpf]"),
        ("cpf 123.456.789-09", "cpf [cpf]"),  # punctuated: the shape is enough
        ("cpf 52998224725", "cpf [cpf]"),
        ("cpf 529 982 247 25", "cpf [cpf]"),
        ("cpf 529982247-25", "cpf [cpf]"),
        ("CPF: 529.982.247-25.", "CPF: [cpf]."),
        # CNPJ
        ("cnpj 11.222.333/0001-81", "cnpj [cnpj]"),
        ("cnpj 11222333/0001-81", "cnpj [cnpj]"),
        ("cnpj 11222333000181", "cnpj [cnpj]"),
        ("CNPJ novo: 12.ABC.345/01DE-35", "CNPJ novo: [cnpj]"),
        # cards
        ("cartão 4111 1111 1111 1111 validade 12/27", "cartão [cartão] validade 12/27"),
        ("4111-1111-1111-1111", "[cartão]"),
        ("5500005555555559", "[cartão]"),
        ("amex 3782 822463 10005", "amex [cartão]"),
        ("R$ 100 4111 1111 1111 1111", "R$ 100 [cartão]"),
        ("pedido 1234 4111 1111 1111 1111 ok", "pedido 1234 [cartão] ok"),
        # several at once
        (
            "Sou Ana, CPF 529.982.247-25, ana@x.com, fone (21) 98888-7777.",
            "Sou Ana, CPF [cpf], [email], fone [telefone].",
        ),
    ],
)
def test_personal_data_is_masked(text: str, masked: str) -> None:
    assert sanitize_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "Olá! Quero saber o preço do plano de 12 meses para 3 usuários.",
        "R$ 1.500,00 à vista ou 12x de R$ 125,00",
        "orçamento de R$ 15.000.000,00",
        "Dia 25/12/2024 às 14:30",
        "25.12.2024, 25-12-2024, 2024-12-25T14:30:00-03:00",
        "das 9h às 18h, 14h30",
        "CEP 01310-100",
        "entre 2019-2023 vendemos 2000-3000 peças",
        "pedido 123456",
        "código 1234 5678 9012 3456",
        "pedido 123456789",
        "nota 9,5 de 10, 100% satisfeito",
        "versão 3.14.159, IP 192.168.100.200",
        "https://www.loja.com.br/produtos/camiseta-azul?cor=2&tam=M",
        "https://youtu.be/dQw4w9WgXcQ",
        "https://exemplo.com.br/pedido/98765#item-3",
        "@maria me indicou, #promo2024",
        "a+b=3, 2+2=4, +5 pontos",
        "😀🎉 obrigado!!!",
        "",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert sanitize_text(text) == text


# -- properties --------------------------------------------------------------------

FILLER = st.text(
    st.characters(exclude_categories=["Nd", "Cs"], exclude_characters="@+"), max_size=30
).map(lambda text: f" {text} ")
"""Text around PII, as in a chat: no digits, and a space on each side."""

AREA_CODES = st.integers(11, 99).filter(lambda ddd: "0" not in str(ddd)).map(str)


def digits(size: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=size, max_size=size)


@st.composite
def brazilian_phones(draw: st.DrawFn) -> tuple[str, str]:
    """(as written, the subscriber number that must not survive)."""
    ddd = draw(AREA_CODES)
    subscriber = draw(
        st.one_of(
            digits(8).map(lambda rest: "9" + rest),
            st.builds(str.__add__, st.sampled_from("2345678"), digits(7)),
        )
    )
    head, tail = subscriber[:-4], subscriber[-4:]
    template = draw(
        st.sampled_from(
            [
                "+55 ({ddd}) {head}-{tail}",
                "+55{ddd}{head}{tail}",
                "55{ddd}{head}{tail}",
                "({ddd}) {head}-{tail}",
                "{ddd} {head} {tail}",
                "{ddd}{head}{tail}",
                "{ddd}.{head}.{tail}",
                "{head}-{tail}",
            ]
        )
    )
    if template == "{head}-{tail}" and len(head) == 4:  # 8 digits, no area code:
        head = "9" + head  # only a mobile is unambiguous enough (see the module)
    return template.format(ddd=ddd, head=head, tail=tail), subscriber[-8:]


@st.composite
def emails(draw: st.DrawFn) -> str:
    word = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
    local = draw(st.lists(word, min_size=1, max_size=3).map(".".join))
    domain = draw(st.lists(word, min_size=1, max_size=3).map(".".join))
    tld = draw(st.sampled_from(["com", "com.br", "org", "net", "io"]))
    return f"{local}@{domain}.{tld}"


def with_check_digit(body: str) -> str:
    """`body` and the Luhn digit that makes it a valid card number."""
    for check in "0123456789":
        number = body + check
        total = sum(
            (d * 2 - 9 if d > 4 else d * 2) if i % 2 else d
            for i, d in enumerate(int(c) for c in reversed(number))
        )
        if total % 10 == 0:
            return number
    raise AssertionError("unreachable")


CARDS = st.builds(
    lambda prefix, rest: with_check_digit(prefix + rest), st.sampled_from("456"), digits(14)
).map(lambda number: " ".join(number[i : i + 4] for i in range(0, 16, 4)))


def cpf_of(body: str) -> str:
    """`body` (9 digits) and its two check digits."""
    for length in (9, 10):
        total = sum(int(d) * w for d, w in zip(body, range(length + 1, 1, -1), strict=True))
        body += str(total * 10 % 11 % 10)
    return body


CPFS = st.builds(
    lambda body, template: template.format(a=body[:3], b=body[3:6], c=body[6:9], d=body[9:]),
    digits(9).filter(lambda body: len(set(body)) > 1).map(cpf_of),
    st.sampled_from(["{a}.{b}.{c}-{d}", "{a}{b}{c}{d}", "{a} {b} {c} {d}", "{a}{b}{c}-{d}"]),
)


@given(FILLER, CPFS, FILLER)
def test_a_cpf_never_survives(before: str, cpf: str, after: str) -> None:
    assert sanitize_text(before + cpf + after) == before + "[cpf]" + after


@given(FILLER, brazilian_phones(), FILLER)
@example(" ", ("(11) 99999-0001", "99990001"), " ")
def test_a_phone_number_never_survives(before: str, phone: tuple[str, str], after: str) -> None:
    written, subscriber = phone

    masked = sanitize_text(before + written + after)

    assert subscriber not in re.sub(r"\D", "", masked)
    assert re.search(r"\[(telefone|cpf)\]", masked)  # 11 bare digits may be a valid CPF


@st.composite
def e164_numbers(draw: st.DrawFn) -> str:
    """Any number of E.164's lengths with its country code (10 to 15 digits), as
    people write it: bare, after `+`, its groups apart by spaces, dots or dashes, the
    group after the country code perhaps in parentheses."""
    country = draw(st.builds(str.__add__, st.sampled_from("123456789"), digits(2)))[
        : draw(st.integers(1, 3))
    ]
    national = draw(digits(draw(st.integers(10 - len(country), 15 - len(country)))))
    cuts = sorted(draw(st.sets(st.integers(1, len(national) - 1), max_size=4)))
    groups = [national[a:b] for a, b in zip([0, *cuts], [*cuts, len(national)], strict=True)]
    separator = draw(st.sampled_from(["", " ", ".", "-"]))
    if separator and len(groups) > 1 and draw(st.booleans()):
        groups[0] = f"({groups[0]})"
    written = separator.join(groups) if separator else "".join(groups)
    plus = draw(st.sampled_from(["", "+"]))
    return f"{plus}{country}{separator or ''}{written}"


@given(FILLER, e164_numbers(), FILLER)
@example(" ", "972987654321", " ")
@example(" ", "+44 20 7946 0958", " ")
@example(" ", "1 (415) 555-2671", " ")
def test_no_number_of_an_e164_length_survives(before: str, number: str, after: str) -> None:
    assume(not re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){3}", number))  # an IPv4 address's shape

    masked = sanitize_text(before + number + after)

    assert not re.search(r"\d", masked), masked


@given(FILLER, emails(), FILLER)
def test_an_email_address_never_survives(before: str, email: str, after: str) -> None:
    masked = sanitize_text(before + email + after)

    assert "@" not in masked
    assert "[email]" in masked


@given(FILLER, CARDS, FILLER)
def test_a_card_number_never_survives(before: str, card: str, after: str) -> None:
    masked = sanitize_text(before + card + after)

    assert masked == before + "[cartão]" + after


@given(FILLER, brazilian_phones(), emails(), CARDS, FILLER)
def test_a_message_full_of_pii_keeps_none(
    before: str, phone: tuple[str, str], email: str, card: str, after: str
) -> None:
    text = f"{before}fone {phone[0]}, email {email}, cartão {card}{after}"

    masked = sanitize_text(text)

    assert not re.search(r"\d{4}", masked)
    assert "@" not in masked


@given(st.text())
def test_masking_is_idempotent(text: str) -> None:
    once = sanitize_text(text)

    assert sanitize_text(once) == once


@given(st.text(st.sampled_from("0123456789 ().-+/,@:abc\n"), max_size=60))
def test_masking_is_idempotent_on_digit_soup(text: str) -> None:
    once = sanitize_text(text)

    assert sanitize_text(once) == once


@given(st.text(st.characters(exclude_categories=["Nd"], exclude_characters="@")))
def test_text_without_digits_or_at_signs_is_unchanged(text: str) -> None:
    assert sanitize_text(text) == text


_LOOK_ALIKE_DIGITS = [
    "".join(chr(zero + n) for n in range(10))
    for zero in (0xFF10, 0x0660, 0x06F0, 0x0966)  # full-width, Arabic-Indic, Persian, Devanagari
]
_FULL_WIDTH = {ord(c): ord(c) + 0xFEE0 for c in "0123456789+-"}
_LOOK_ALIKE_SIGNS = {
    "+": "\uff0b\u207a",
    "-": "\u2011\u2013\u2014\uff0d\u2212",
    ".": "\uff0e",
    "(": "\uff08",
    ")": "\uff09",
    " ": "\u00a0\u3000\u202f",
}


@st.composite
def written_in_look_alikes(draw: st.DrawFn, number: str) -> str:
    """`number` with each digit and sign perhaps swapped for a Unicode look-alike."""
    digit_sets = draw(st.sampled_from(_LOOK_ALIKE_DIGITS))
    out = []
    for character in number:
        if character.isdigit() and draw(st.booleans()):
            out.append(digit_sets[int(character)])
        elif character in _LOOK_ALIKE_SIGNS and draw(st.booleans()):
            out.append(draw(st.sampled_from(_LOOK_ALIKE_SIGNS[character])))
        else:
            out.append(character)
    return "".join(out)


@given(FILLER, e164_numbers().flatmap(written_in_look_alikes), FILLER)
@example(
    " ",
    "\uff0b\uff15\uff15 \uff11\uff11 \uff19\uff18\uff17\uff16\uff15-\uff14\uff13\uff12\uff11",
    " ",
)
@example(" ", "+55\u00a011\u00a098765\u20114321", " ")
def test_a_number_in_look_alike_characters_never_survives(
    before: str, number: str, after: str
) -> None:
    assume(not re.fullmatch(r"\d{1,3}(?:\.\d{1,3}){3}", number))

    masked = sanitize_text(before + number + after)

    assert not re.search(r"\d", masked), masked


def test_letters_are_left_as_written() -> None:
    text = "olá \uff21\uff22\uff23 \u2013 ção"

    assert sanitize_text(text) == text
