"""Meta's webhook signature: `X-Hub-Signature-256: sha256=<hex>`, the HMAC-SHA256 of
the raw body bytes under the app secret.

It is checked over the exact bytes received, before any parsing: re-serialised JSON
would not match (key order, escapes, non-ASCII text)."""

from __future__ import annotations

import hashlib
import hmac
import re
from enum import StrEnum

HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="
_HEADER_VALUE = re.compile(r"sha256=([0-9a-fA-F]{64})")


class SignatureProblem(StrEnum):
    MISSING = f"the {HEADER} header is missing"
    MALFORMED = f"the {HEADER} header is not 'sha256=' followed by 64 hex digits"
    MISMATCH = f"the {HEADER} header does not match the body and the app secret"


class SignatureInvalid(Exception):
    """The request did not come from Meta, or was altered on the way: refuse it."""

    def __init__(self, problem: SignatureProblem) -> None:
        self.problem = problem
        super().__init__(problem.value)


def signature_header(secret: bytes, body: bytes) -> str:
    """The header value Meta would send for `body`."""
    return _PREFIX + hmac.new(secret, body, hashlib.sha256).hexdigest()


def claimed_digest(header: str | None) -> bytes:
    """The digest the header claims; raises `SignatureInvalid` when absent or malformed.

    Cheap, so the webhook calls it before reading the body."""
    if not header:
        raise SignatureInvalid(SignatureProblem.MISSING)
    matched = _HEADER_VALUE.fullmatch(header.strip())
    if matched is None:
        raise SignatureInvalid(SignatureProblem.MALFORMED)
    return bytes.fromhex(matched.group(1))


def verify_signature(secret: bytes, body: bytes, header: str | None) -> None:
    """Return when `header` signs `body` under `secret`; raise `SignatureInvalid`
    otherwise. The comparison takes the same time wherever the digests differ."""
    claimed = claimed_digest(header)
    actual = hmac.new(secret, body, hashlib.sha256).digest()
    if not secret or not hmac.compare_digest(claimed, actual):
        raise SignatureInvalid(SignatureProblem.MISMATCH)
