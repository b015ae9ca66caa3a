"""A blind index of display names: what lets operators search contacts by name while
the names stay sealed in the vault.

A name is cut into words (`contracts/search_terms.py`: accents stripped, case
folded); each word, and each start of it of three characters or more, is stored as a
keyed hash (HMAC-SHA256 under `PII_HASH_KEY`, in a domain of its own), never in clear.
A search hashes its words the same way and looks them up: "mar" finds "Maria" and
"Márcia". What the index gives away to someone who reads the store without the key:
which contacts share a word or a start of one, not the word.
"""

from __future__ import annotations

import hashlib
import hmac

NAME_TOKEN_DOMAIN = b"display-name-word\x00"
TOKEN_HEX = 32


def name_token(hash_key: bytes, term: str) -> str:
    """`TOKEN_HEX` lowercase hex characters."""
    digest = hmac.new(hash_key, NAME_TOKEN_DOMAIN + term.encode("utf-8"), hashlib.sha256)
    return digest.hexdigest()[:TOKEN_HEX]
