"""`contracts.strict_json`: what RFC 8259 allows parses as `json` would; the rest is
refused with a reason and a position."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import strict_json
from contracts.strict_json import MAX_DEPTH, InvalidJson

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()  # no surrogates: Hypothesis leaves out category Cs by default
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(DOCUMENTS, st.booleans())
def test_standard_json_reads_as_json_reads_it(document: Any, ascii_only: bool) -> None:
    text = json.dumps(document, ensure_ascii=ascii_only, allow_nan=False)
    assert strict_json.loads(text) == json.loads(text)
    assert strict_json.loads(text.encode()) == json.loads(text)


@given(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), st.text(max_size=5))
def test_a_lone_surrogate_anywhere_is_refused(surrogate: str, around: str) -> None:
    escaped = f"\\u{ord(surrogate):04x}"
    before = json.dumps(around)[1:-1]
    for text in (f'"{escaped}"', f'{{"{escaped}": 1}}', f'[1, {{"a": ["{before}{escaped}"]}}]'):
        with pytest.raises(InvalidJson, match="surrogate") as refused:
            strict_json.loads(text)
        assert refused.value.pos == text.find(escaped)


def test_a_surrogate_pair_is_one_character() -> None:
    assert strict_json.loads(r'"\ud83d\ude00"') == "\U0001f600"


@pytest.mark.parametrize(
    ("text", "reason"),
    [("NaN", "NaN"), ("[Infinity]", "Infinity"), ('{"a": -Infinity}', "-Infinity"),
     ("1e400", "finite"), ("[-1e400]", "finite"), ("1" * 5000, "limit"), ("{", "Expecting"),
     ("[" * 100_000 + "]" * 100_000, "nested"), ("[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2),
     "nested")],
)  # fmt: skip
def test_what_the_standard_does_not_allow_is_refused(text: str, reason: str) -> None:
    with pytest.raises(InvalidJson, match=reason):
        strict_json.loads(text)


def test_bytes_that_are_not_utf8_are_refused() -> None:
    with pytest.raises(InvalidJson, match="UTF-8"):
        strict_json.loads(b'"\xff"')


def test_a_tiny_number_is_a_number() -> None:
    assert strict_json.loads("1e-400") == 0.0
    assert math.isfinite(strict_json.loads("1.7976931348623157e308"))
