"""What every `OperatorDirectory` adapter shares: the rule for operator names and the
shape of bearer tokens, so that no back end accepts what another refuses.

A token is `sb_` and 256 random bits (url-safe base64). The prefix makes a leaked
token recognisable to secret scanners and to a human; only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets

TOKEN_PREFIX = "sb_"
_TOKEN_PATTERN = re.compile(r"sb_[A-Za-z0-9_-]{43}")
SESSION_PREFIX = "sbs_"
_SESSION_PATTERN = re.compile(r"sbs_[A-Za-z0-9_-]{43}")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class InvalidOperatorName(ValueError):
    """A name outside `NAME_PATTERN`."""


def check_operator_name(name: str) -> str:
    """The name, if it is 1-64 ASCII letters, digits and `._-@`, starting with a letter
    or a digit (so it is never `.`, `..` or a CLI option, all of which break keys or
    commands)."""
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidOperatorName(
            f"invalid operator name {name!r}: use 1 to 64 letters, digits and . _ - @, "
            "starting with a letter or a digit"
        )
    return name


def is_operator_name(name: str) -> bool:
    return NAME_PATTERN.fullmatch(name) is not None


def mint_token() -> tuple[str, str]:
    """A new token and its digest."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, _sha256(token)


def token_digest(token: str) -> str | None:
    """The SHA-256 hex under which `token` would be stored, or None for a string that
    cannot be one of our tokens (there is nothing to look up).

    Directories find a token by this digest, never by comparing tokens: timing the
    lookup tells an attacker about the digest of their own guess, which reveals nothing
    about any stored token, so no constant-time comparison is needed."""
    if not _TOKEN_PATTERN.fullmatch(token):
        return None
    return _sha256(token)


def mint_session_id() -> tuple[str, str]:
    """A new console session id (the cookie's value) and its digest, the only form in
    which a directory stores it."""
    session_id = SESSION_PREFIX + secrets.token_urlsafe(32)
    return session_id, _sha256(session_id)


def session_digest(session_id: str) -> str | None:
    """Like `token_digest`, for a console session id."""
    if not _SESSION_PATTERN.fullmatch(session_id):
        return None
    return _sha256(session_id)


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()
