"""Who a contact is: one identity per person, whatever form WhatsApp reports it in.

A contact is keyed by Meta's business-scoped user id (`user_id`, e.g. `BR.15025...`)
when the webhook carries one, and by the normalised E.164 number otherwise. The vault
hashes that identity into `from_hash`, so two spellings of one number must normalise
to the same string or one person becomes two contacts.

The Brazilian ninth digit. Since 2016 every Brazilian mobile number has nine digits
after the two-digit area code (DDD) and starts with 9; before that, mobiles had eight
digits starting with 6, 7, 8 or 9. WhatsApp still reports many Brazilian mobiles in the
old form (`wa_id` `551199990001` for +55 11 9 9999-0001). The canonical form has the
ninth digit:

- a Brazilian number with 8 digits after the DDD that start with 6-9 is a mobile in the
  old form: insert a 9 (`+55 11 9999-0001` → `+5511999990001`);
- 8 digits that start with 2-5 are a landline: they never get a 9;
- 9 digits after the DDD must start with 9 (a mobile) and are kept as they are.
"""

from __future__ import annotations

import re

_NOISE = re.compile(r"[\s().\-]")
_DIGITS = re.compile(r"[0-9]+")
_BRAZIL = "55"
_DDD = re.compile(r"[1-9]{2}")  # every Brazilian area code is 11-99 without a zero
_MIN_DIGITS, _MAX_DIGITS = 7, 15  # E.164: at most 15 digits, country code included
_USER_ID = re.compile(r"[A-Za-z0-9._-]{1,160}")  # e.g. BR.1502576394655843, US.ENT.118...


class InvalidIdentity(ValueError):
    """The contact cannot be identified: no usable user id or phone number."""


class InvalidPhoneNumber(InvalidIdentity):
    """Not a phone number in international form."""


def normalise_e164(raw: str) -> str:
    """`+` and the digits of an international number, Brazilian mobiles with their
    ninth digit. Accepts formatting (spaces, dashes, dots, parentheses) and a missing
    `+` (WhatsApp's `wa_id`); the country code is required. Idempotent."""
    text = _NOISE.sub("", raw.strip())
    digits = text.removeprefix("+")
    if not digits:
        raise InvalidPhoneNumber("a phone number is required, got an empty string")
    if not _DIGITS.fullmatch(digits):
        raise InvalidPhoneNumber(
            "a phone number holds only digits, an optional leading '+' and formatting "
            "(spaces, dashes, dots, parentheses)"
        )
    if digits.startswith("0"):
        raise InvalidPhoneNumber(
            "the number starts with 0, a dialling prefix: write it in international form "
            "with its country code, e.g. +55 11 99999-0001"
        )
    if not _MIN_DIGITS <= len(digits) <= _MAX_DIGITS:
        raise InvalidPhoneNumber(
            f"an international number has {_MIN_DIGITS} to {_MAX_DIGITS} digits with its "
            f"country code, this one has {len(digits)}"
        )
    if digits.startswith(_BRAZIL):
        digits = _BRAZIL + _brazilian(digits[len(_BRAZIL) :])
    return f"+{digits}"


def contact_identity(user_id: str | None, phone: str | None) -> str:
    """What keys a contact: Meta's business-scoped user id when present, else the
    normalised E.164 number. Raises `InvalidIdentity` when there is neither."""
    if user_id is not None and user_id.strip():
        user_id = user_id.strip()
        if not _USER_ID.fullmatch(user_id):
            raise InvalidIdentity(
                "a business-scoped user id is 1 to 160 letters, digits, '.', '_' or '-' "
                "(e.g. BR.1502576394655843)"
            )
        return user_id
    if phone is not None and phone.strip():
        return normalise_e164(phone)
    raise InvalidIdentity("the contact has neither a business-scoped user id nor a phone number")


def _brazilian(national: str) -> str:
    """The national part (area code and subscriber number) in its canonical form."""
    ddd, subscriber = national[:2], national[2:]
    if not _DDD.fullmatch(ddd):
        raise InvalidPhoneNumber(
            "a Brazilian number (+55) continues with a two-digit area code from 11 to 99 "
            "without a 0"
        )
    if len(subscriber) == 9:
        if not subscriber.startswith("9"):
            raise InvalidPhoneNumber(
                "a Brazilian number with 9 digits after the area code is a mobile and starts with 9"
            )
        return national
    if len(subscriber) == 8:
        if subscriber[0] in "6789":
            return ddd + "9" + subscriber  # a mobile reported without its ninth digit
        if subscriber[0] in "2345":
            return national  # a landline
        raise InvalidPhoneNumber(
            "a Brazilian landline starts with 2-5 and a mobile with 6-9 after the area code"
        )
    raise InvalidPhoneNumber(
        "a Brazilian number (+55) has 10 or 11 digits after the country code: a two-digit "
        f"area code and an 8- or 9-digit number; this one has {len(national)}"
    )
