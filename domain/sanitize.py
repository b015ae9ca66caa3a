"""Mask personal data inside message text: what an operator reads is `body_sanitized`.

Customers paste phone numbers, e-mail addresses, CPF/CNPJ and card numbers into chats.
Each is replaced by a placeholder an operator understands (they are Brazilian, hence
Portuguese): `[telefone]`, `[email]`, `[cpf]`, `[cnpj]`, `[cartão]`. Everything else is
left alone: prices (`R$ 1.500,00`), dates, times, CEPs, short numbers, URLs.

What counts (an earlier one wins; the run of 10 to 15 digits, 7, is looked at right
after the punctuated CNPJ, so that a CPF, a card or a Brazilian detector cannot take a
part of it and leave the rest):

1. e-mail: `local@domain.tld`.
2. CNPJ with punctuation: `12.345.678/0001-95`, `12345678/0001-95`, and the
   alphanumeric CNPJ of 2026 (`12.ABC.345/01DE-35`). The shape is unmistakable, so
   check digits are not required: a mistyped CNPJ is still one.
3. CPF with punctuation (`123.456.789-09`, `123 456 789 09`, `123456789-09`; the
   first two separators alike): by shape alone, like the CNPJ. A bare run of 11
   digits is a CPF, or a bare run of 14 digits a CNPJ, only when its check digits are
   valid: otherwise every long number would be one.
4. card: 13 to 19 digits, alone or in groups separated by single spaces or dashes,
   that pass the Luhn check. A 13-digit run that reads as a Brazilian mobile with its
   country code is left to the phone detector.
5. Brazilian phone: optional `+55`/`55`, a two-digit area code 11-99 (optionally in
   parentheses, optionally with a trunk 0), then a 9-digit mobile starting with 9 or
   an 8-digit number starting with 2-9, with or without separators. So a bare run of
   10 to 13 digits shaped like that is masked, even inside a URL (`wa.me/55119...`);
   a numeric id of that shape is masked too: that is the price of never leaking one.
6. international phone: `+` followed by at least 7 digits, with separators.
7. any other run of 10 to 15 digits, with or without `+`, and with spaces, dots,
   dashes or parentheses between its groups: every length an E.164 number can have
   with its country code (`972987654321`, `44 20 7946 0958`, `(415) 555-2671`).
   Like the Brazilian detector, it masks a numeric id (`protocolo 20241125001`) or a
   bare 11 digits that fail the CPF check: that is the price of never leaking an
   international number. An IPv4 address (`192.168.100.200`) is not a phone number.
8. local number without area code: a mobile `99999-0001` / `9 9999-0001` /
   `999990001`, or `3333-4444` (a separator is required for 8 digits, which could be
   a date like `25122024`). A range of years (`2019-2023`) or of round numbers
   (`2000-3000`) is not a phone number, nor are 4-digit groups beside other digit
   groups (`1234 5678 9012 3456`, a code that failed the card check).

Digits and the signs written between them are read through their look-alikes first:
any Unicode decimal digit (full-width, Arabic-Indic, Devanagari...) counts as its ASCII
digit, and a full-width or other Unicode plus, dash, dot, parenthesis or space as its
ASCII sign, so a number typed on a full-width keyboard is masked whole. Only what is
masked changes: the rest of the text keeps its own characters.

Known gaps: an 8-digit run without a separator is not a phone to this module, nor is a
phone glued to other digit groups into a run of more than 15 digits.

Masking is idempotent: placeholders hold no digits and no `@`, so what one pass leaves
a second pass leaves too (the property tests hold it to that).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import ClassVar

PHONE = "[telefone]"
EMAIL = "[email]"
CPF = "[cpf]"
CNPJ = "[cnpj]"
CARD = "[cartão]"

_EMAIL = re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")

_CNPJ_PUNCTUATED = re.compile(
    r"(?<!\w)(?:[0-9A-Z]{2}\.[0-9A-Z]{3}\.[0-9A-Z]{3}|\d{8})/[0-9A-Z]{4}-?\d{2}(?!\w)"
)

_CPF_OR_BARE = re.compile(
    r"(?<!\w)(?:\d{3}(?P<sep>[.\s]?)\d{3}(?P=sep)\d{3}[-.\s]?\d{2}|\d{14})(?!\w)(?![.-]\d)"
)

_DIGIT_RUN = re.compile(r"(?<![\w+])\d+(?:[ -]\d+)*(?!\w)")
_GROUP = re.compile(r"\d+")

_BR_PHONE = re.compile(
    r"""
    (?:\+\s?55[\s.-]?|(?<![\w+])(?:55[\s.-]?)?)  # country code
    (?:\(\s?0?[1-9]{2}\s?\)|0?[1-9]{2})           # area code, 11-99
    [\s.-]?
    (?:9[\s.-]?\d{4}|[2-9]\d{3})                   # mobile (9 digits) or 8 digits
    [\s.-]?
    \d{4}
    (?!\w)(?![.-]\d)
    """,
    re.VERBOSE,
)
_BR_MOBILE_WITH_COUNTRY = re.compile(r"55[1-9]{2}9\d{8}")

_INTERNATIONAL_PHONE = re.compile(r"\+\s?\d(?:[\s.()-]{0,2}\d){6,}(?!\d)")

_DIGITS_OF_A_PHONE = re.compile(
    r"""
    (?<![\w+.-])
    (?:\+\s?)?
    (?:\(\d+\)[\s.-]?)?          # an area code in parentheses
    \d+(?:[ .()-]{1,2}\d+)*     # digit groups and their separators
    (?!\w)(?![.-]\d)
    """,
    re.VERBOSE,
)
_IPV4 = re.compile(r"(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}")

_LOCAL_PHONE = re.compile(
    r"""
    (?<![\w+])(?<!\d[.-])
    (?:
        9[\s.]?\d{4}[\s.-]?\d{4}                            # mobile
      | (?<!\d\s)(?P<first>[2-9]\d{3})[\s.-](?P<second>\d{4})(?!\s\d)  # 8 digits
    )
    (?!\w)(?![.-]\d)
    """,
    re.VERBOSE,
)


class _LookAlikes(dict[int, int]):
    """`str.translate`'s table from a digit or a sign of a phone number to its ASCII
    form, filled on demand: listing every Unicode digit up front would cost a scan of
    all code points at import."""

    _SIGNS: ClassVar[dict[str, str]] = {
        "+": "\uff0b\ufe62\u207a\u208a",
        "-": "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d\ufe58",
        ".": "\uff0e\u3002\uff61",
        "(": "\uff08\ufe59",
        ")": "\uff09\ufe5a",
    }
    _ASCII: ClassVar[dict[int, int]] = {
        ord(look): ord(sign) for sign, looks in _SIGNS.items() for look in looks
    }

    def __missing__(self, code: int) -> int:
        character = chr(code)
        folded: int | None = self._ASCII.get(code)
        if folded is None and code > 127:
            if character.isdecimal():
                folded = ord(str(unicodedata.decimal(character)))
            elif unicodedata.category(character) == "Zs":
                folded = ord(" ")
        self[code] = code if folded is None else folded
        return self[code]


_LOOK_ALIKES = _LookAlikes()
_NOT_ASCII = re.compile(r"[^\x00-\x7f]")


def sanitize_text(text: str) -> str:
    """`text` with phone numbers, e-mail addresses, CPF, CNPJ and card numbers masked."""
    if not _NOT_ASCII.search(text):
        for pattern, replace in _DETECTORS:
            text = pattern.sub(replace, text)
        return text
    return _sanitize_through_look_alikes(text)


def sanitize_within(text: str, limit: int) -> str:
    """`sanitize_text`, clipped to `limit` characters: a placeholder can be longer than
    what it hides (`[email]` for `a@b.co`), and a field must stay within its bounds."""
    masked = sanitize_text(text)
    return masked if len(masked) <= limit else masked[: limit - 1] + "…"


def _sanitize_through_look_alikes(text: str) -> str:
    """Detect on the folded text, mask the same spans of both: folding maps each code
    point to one code point, so the two stay aligned, and what no detector touched
    keeps its own characters."""
    folded = text.translate(_LOOK_ALIKES)
    for pattern, replace in _DETECTORS:
        masked_folded: list[str] = []
        masked: list[str] = []
        copied_to = 0
        for match in pattern.finditer(folded):
            replacement = replace(match)
            if replacement == match.group():
                continue
            masked_folded += [folded[copied_to : match.start()], replacement]
            masked += [text[copied_to : match.start()], replacement]
            copied_to = match.end()
        if copied_to:
            folded = "".join([*masked_folded, folded[copied_to:]])
            text = "".join([*masked, text[copied_to:]])
    return text


def _always(placeholder: str) -> Callable[[re.Match[str]], str]:
    return lambda _match: placeholder


def _cpf_or_cnpj(match: re.Match[str]) -> str:
    found = match.group()
    digits = _digits(found)
    if len(digits) == 14:
        return CNPJ if _cnpj_check_digits_valid(digits) else found
    if digits != found or _cpf_check_digits_valid(digits):
        return CPF
    return found


def _cards(match: re.Match[str]) -> str:
    """Mask every window of consecutive groups that is a card number, longest first."""
    run = match.group()
    groups = list(_GROUP.finditer(run))
    pieces: list[str] = []
    copied_to = 0
    start = 0
    while start < len(groups):
        end = _card_end(groups, start)
        if end is None:
            start += 1
            continue
        pieces += [run[copied_to : groups[start].start()], CARD]
        copied_to = groups[end].end()
        start = end + 1
    return "".join([*pieces, run[copied_to:]])


def _card_end(groups: list[re.Match[str]], start: int) -> int | None:
    """The last group of the longest card number starting at `groups[start]`."""
    found = None
    digits = ""
    for end in range(start, len(groups)):
        digits += groups[end].group()
        if len(digits) > 19:
            break
        if (
            len(digits) >= 13
            and _luhn_valid(digits)
            and not _BR_MOBILE_WITH_COUNTRY.fullmatch(digits)
        ):
            found = end
    return found


def _digits_of_a_phone(match: re.Match[str]) -> str:
    """The whole run is a phone number, unless it is a CPF, a CNPJ or a card number,
    named as such."""
    found = match.group()
    digits = _digits(found)
    if not 10 <= len(digits) <= 15 or _IPV4.fullmatch(found):
        return found
    document = _CPF_OR_BARE.fullmatch(found)
    if document is not None and _cpf_or_cnpj(document) != found:
        return _cpf_or_cnpj(document)
    card = _DIGIT_RUN.fullmatch(found) and len(digits) >= 13 and _luhn_valid(digits)
    if card and not _BR_MOBILE_WITH_COUNTRY.fullmatch(digits):
        return CARD
    return PHONE


def _local_phone(match: re.Match[str]) -> str:
    first, second = match.group("first"), match.group("second")
    if first is not None and _a_range(int(first), int(second)):
        return match.group()
    return PHONE


def _a_range(first: int, second: int) -> bool:
    """Years (`2019-2023`) or round numbers (`2000-3000`), not a phone number."""
    years = 1900 <= first <= 2099 and 1900 <= second <= 2099
    round_numbers = first % 100 == 0 and second % 100 == 0
    return years or round_numbers


def _digits(text: str) -> str:
    return "".join(character for character in text if character.isdigit())


def _cpf_check_digits_valid(digits: str) -> bool:
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    for length in (9, 10):
        total = sum(
            int(digit) * weight
            for digit, weight in zip(digits, range(length + 1, 1, -1), strict=False)
        )
        if (total * 10) % 11 % 10 != int(digits[length]):
            return False
    return True


def _cnpj_check_digits_valid(digits: str) -> bool:
    if len(digits) != 14 or len(set(digits)) == 1:
        return False
    weights = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
    for length in (12, 13):
        total = sum(int(d) * w for d, w in zip(digits, weights[13 - length :], strict=False))
        remainder = total % 11
        if (0 if remainder < 2 else 11 - remainder) != int(digits[length]):
            return False
    return True


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, character in enumerate(reversed(digits)):
        digit = int(character)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


_DETECTORS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (_EMAIL, _always(EMAIL)),
    (_CNPJ_PUNCTUATED, _always(CNPJ)),
    (_DIGITS_OF_A_PHONE, _digits_of_a_phone),
    (_CPF_OR_BARE, _cpf_or_cnpj),
    (_DIGIT_RUN, _cards),
    (_BR_PHONE, _always(PHONE)),
    (_INTERNATIONAL_PHONE, _always(PHONE)),
    (_LOCAL_PHONE, _local_phone),
)
