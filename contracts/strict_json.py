"""JSON as Switchboard accepts it from outside: RFC 8259 text, and nothing more.

Python's `json` module reads more than the standard allows: the literals `NaN`,
`Infinity` and `-Infinity`, numbers that overflow to infinity (`1e400`), and `\\ud800`
escapes that decode to a lone UTF-16 surrogate, which is not a Unicode character and
cannot be encoded, stored or sent. Each of these got past the old parser and failed
later, deep inside a store or a response, as a 500. Everything that reads JSON from a
client (request bodies, cursors) reads it here, so it is refused at the edge with a
reason and nothing is written.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
"""Left in a decoded string only by a lone escape: a valid pair decodes to one character."""

MAX_DEPTH = 64
"""Arrays and objects nested deeper than this are refused: no body we accept needs more,
and a deep one would exhaust the recursion of whatever walks it next."""


class InvalidJson(json.JSONDecodeError):
    """Not JSON this API reads. A `JSONDecodeError`, so a web framework that maps those
    to a 422 maps these too; the message says what is wrong, never the value."""


def loads(text: str | bytes) -> Any:
    """The value of `text`; raises `InvalidJson` for what RFC 8259 does not allow,
    for invalid Unicode and for nesting deeper than `MAX_DEPTH`."""
    try:
        document = text if isinstance(text, str) else text.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidJson("the text is not UTF-8", "", error.start) from None
    try:
        value = json.loads(document, parse_constant=_refuse_constant, parse_float=_finite)
    except InvalidJson:
        raise
    except json.JSONDecodeError as error:
        raise InvalidJson(error.msg, "", error.pos) from None
    except RecursionError:
        raise InvalidJson(f"nested more than {MAX_DEPTH} levels deep", "", 0) from None
    except ValueError as error:  # an integer of more digits than Python converts
        raise InvalidJson(_first_line(error), "", 0) from None
    _check(value, document, depth=0)
    return value


def with_text_repaired(value: Any) -> Any:
    """`value` with every lone surrogate in its strings (keys too) replaced by U+FFFD,
    the replacement character: for input that must be kept whatever it holds (Meta
    retries a refused delivery for days), where `loads` would refuse it."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [with_text_repaired(item) for item in value]
    if isinstance(value, dict):
        return {with_text_repaired(key): with_text_repaired(item) for key, item in value.items()}
    return value


def _refuse_constant(name: str) -> Any:
    raise InvalidJson(f"{name} is not a JSON number", "", 0)


def _finite(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise InvalidJson("a number is too large to be finite", "", 0)
    return number


def _check(value: Any, document: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidJson(f"nested more than {MAX_DEPTH} levels deep", "", 0)
    if isinstance(value, str):
        _check_text(value, document)
    elif isinstance(value, list):
        for item in value:
            _check(item, document, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, document)
            _check(item, document, depth + 1)


def _check_text(text: str, document: str) -> None:
    """A decoded string holds a surrogate only if an escape put a lone one there (a
    valid pair decodes to one character)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        position = document.lower().find(f"\\u{code:04x}")
        raise InvalidJson(
            f"a string holds a lone UTF-16 surrogate (U+{code:04X}), which is not Unicode text",
            "",
            max(position, 0),
        ) from None


def _first_line(error: Exception) -> str:
    return str(error).split(":", 1)[0]
