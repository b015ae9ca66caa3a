"""`X-Hub-Signature-256`: HMAC-SHA256 of the raw body bytes under the app secret."""

from __future__ import annotations

import json

import pytest

from ingress.signature import (
    SignatureInvalid,
    SignatureProblem,
    claimed_digest,
    signature_header,
    verify_signature,
)

# RFC 4231, test case 2: a published HMAC-SHA256 vector.
RFC_KEY = b"Jefe"
RFC_DATA = b"what do ya want for nothing?"
RFC_DIGEST = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"

# Computed once with `printf '%s' BODY | openssl dgst -sha256 -hmac SECRET`.
SECRET = b"meta-app-secret-2f1c"
BODY = b'{"object":"whatsapp_business_account","entry":[]}'
BODY_SIGNATURE = "sha256=b1f4243aab38d42e88cd94e1dd7f7b8d7fab9ef6bae67295d8334a541590cab9"
ACCENTED_BODY = '{"text":"Olá, café às 9h? 👍"}'.encode()
ACCENTED_SIGNATURE = "sha256=bd793a593007e7051ce235ea409fef0f449fc3d96a6dfca0f305e122659d2669"


def problem_of(secret: bytes, body: bytes, header: str | None) -> SignatureProblem:
    with pytest.raises(SignatureInvalid) as error:
        verify_signature(secret, body, header)
    return error.value.problem


def test_the_published_hmac_vector_verifies() -> None:
    verify_signature(RFC_KEY, RFC_DATA, f"sha256={RFC_DIGEST}")
    assert signature_header(RFC_KEY, RFC_DATA) == f"sha256={RFC_DIGEST}"


@pytest.mark.parametrize(
    ("body", "header"), [(BODY, BODY_SIGNATURE), (ACCENTED_BODY, ACCENTED_SIGNATURE)]
)
def test_fixed_vectors_verify_over_the_exact_bytes(body: bytes, header: str) -> None:
    verify_signature(SECRET, body, header)
    assert signature_header(SECRET, body) == header


def test_uppercase_hex_is_the_same_digest() -> None:
    verify_signature(SECRET, BODY, "sha256=" + BODY_SIGNATURE.removeprefix("sha256=").upper())


def test_re_encoding_a_non_ascii_body_breaks_the_signature() -> None:
    """The same JSON with escaped accents is other bytes: only the raw body counts."""
    escaped = json.dumps(json.loads(ACCENTED_BODY), separators=(",", ":")).encode()
    assert json.loads(escaped) == json.loads(ACCENTED_BODY)

    assert problem_of(SECRET, escaped, ACCENTED_SIGNATURE) is SignatureProblem.MISMATCH


@pytest.mark.parametrize(
    "tampered",
    [
        BODY.replace(b"[]", b"[{}]"),
        BODY + b" ",
        BODY[:-1],
        b"",
    ],
    ids=["changed", "appended", "truncated", "empty"],
)
def test_a_tampered_body_is_refused(tampered: bytes) -> None:
    assert problem_of(SECRET, tampered, BODY_SIGNATURE) is SignatureProblem.MISMATCH


def test_another_secret_is_refused() -> None:
    assert problem_of(b"another-secret", BODY, BODY_SIGNATURE) is SignatureProblem.MISMATCH


def test_an_empty_secret_verifies_nothing() -> None:
    assert problem_of(b"", BODY, signature_header(b"", BODY)) is SignatureProblem.MISMATCH


@pytest.mark.parametrize("header", [None, ""])
def test_a_missing_header_is_refused(header: str | None) -> None:
    assert problem_of(SECRET, BODY, header) is SignatureProblem.MISSING


@pytest.mark.parametrize(
    "header",
    [
        BODY_SIGNATURE.removeprefix("sha256="),  # no scheme
        "sha1=" + BODY_SIGNATURE.removeprefix("sha256="),  # X-Hub-Signature's scheme
        BODY_SIGNATURE[:-2],  # too short
        BODY_SIGNATURE + "00",  # too long
        BODY_SIGNATURE[:-1] + "g",  # not hex
        "sha256=" + " ".join(["ab"] * 32),
        "sha256",
    ],
)
def test_a_malformed_header_is_refused_before_the_body_is_read(header: str) -> None:
    with pytest.raises(SignatureInvalid) as error:
        claimed_digest(header)
    assert error.value.problem is SignatureProblem.MALFORMED
    assert problem_of(SECRET, BODY, header) is SignatureProblem.MALFORMED


def test_the_error_says_what_to_fix_without_echoing_the_header() -> None:
    with pytest.raises(SignatureInvalid, match="X-Hub-Signature-256") as error:
        verify_signature(SECRET, BODY, "sha256=" + "0" * 64)
    assert "0" * 64 not in str(error.value)
