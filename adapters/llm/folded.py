"""Customer text as the rules responder reads it.

Patterns are written once, in lower case without accents, and matched against a folded
copy of the text ("Orçamento", "ORCAMENTO" and "orçamento" all read `orcamento`). The
copy has the length of the original, so a match's span also cuts the customer's own
words out of the original: a deadline keeps "para março", accent and all.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Folded:
    text: str
    """The customer's text, NFC-normalised."""
    folded: str
    """`text` in lower case without accents, character for character."""

    @classmethod
    def of(cls, text: str) -> Folded:
        text = unicodedata.normalize("NFC", text)
        return cls(text, "".join(_fold(character) for character in text))

    def part(self, start: int, end: int) -> Folded:
        return Folded(self.text[start:end], self.folded[start:end])


@lru_cache(maxsize=4096)
def _fold(character: str) -> str:
    base = unicodedata.normalize("NFKD", character)[:1].lower()
    return base if len(base) == 1 else character
