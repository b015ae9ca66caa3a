"""A blind index of display names: what lets operators search contacts by name while
the names stay sealed in the vault.

A name is cut into words (accents stripped, case folded); each word, and each prefix
of it of `MIN_PREFIX` characters or more, is stored as a keyed hash (HMAC-SHA256 under
`PII_HASH_KEY`, in a domain of its own), never in clear. A search hashes its words the
same way and looks them up: "mar" finds "Maria" and "Márcia". What the index gives
away to someone who reads the store without the key: which contacts share a word or a
prefix, not the word.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

NAME_TOKEN_DOMAIN = b"display-name-word\x00"
MIN_PREFIX = 3
MAX_WORDS = 8
"""Words of a name indexed (a profile name is short; this bounds the writes)."""
TOKEN_HEX = 32
_WORD = re.compile(r"[^\W_]+")


def words(text: str | None) -> list[str]:
    """The words of `text`, without accents, case folded, in order, once each."""
    plain = unicodedata.normalize("NFKD", text or "")
    plain = "".join(c for c in plain if not unicodedata.combining(c)).casefold()
    return list(dict.fromkeys(_WORD.findall(plain)))


def index_terms(name: str | None) -> set[str]:
    """What a name is found by: each word, and its prefixes from `MIN_PREFIX` long."""
    terms: set[str] = set()
    for word in words(name)[:MAX_WORDS]:
        terms.add(word)
        terms.update(word[:n] for n in range(MIN_PREFIX, len(word)))
    return terms


def name_token(hash_key: bytes, term: str) -> str:
    """`TOKEN_HEX` lowercase hex characters."""
    digest = hmac.new(hash_key, NAME_TOKEN_DOMAIN + term.encode("utf-8"), hashlib.sha256)
    return digest.hexdigest()[:TOKEN_HEX]
