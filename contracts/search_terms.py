"""What a search matches: the words of a text, without accents and case folded, each
found whole or by a start of `MIN_PREFIX` characters or more. Shared by what indexes
(the vault's blind index of names, the projection of lead fields) and what searches."""

from __future__ import annotations

import re
import unicodedata

MIN_PREFIX = 3
MAX_PREFIX = 20
"""Starts longer than this are not indexed: type the whole word."""
MAX_WORDS = 8
"""Words of one text indexed or searched."""
_WORD = re.compile(r"[^\W_]+")


def words(text: str | None) -> list[str]:
    """The words of `text`, without accents, case folded, in order, once each."""
    plain = unicodedata.normalize("NFKD", text or "")
    plain = "".join(c for c in plain if not unicodedata.combining(c)).casefold()
    return list(dict.fromkeys(_WORD.findall(plain)))[:MAX_WORDS]


def index_terms(text: str | None) -> set[str]:
    """What a text is found by: each word, and its starts from `MIN_PREFIX` long."""
    terms: set[str] = set()
    for word in words(text):
        terms.add(word)
        terms.update(word[:n] for n in range(MIN_PREFIX, min(len(word), MAX_PREFIX + 1)))
    return terms
