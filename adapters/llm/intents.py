"""What a customer message asks for besides giving a value: a person, a price, or
nothing at all (a greeting, an "ok"). Matched against folded text (`Folded.folded`)."""

from __future__ import annotations

import re

from adapters.llm.folded import Folded

_HUMAN = re.compile(
    r"\b(?:humano|humana|atendente|pessoa de verdade|pessoa real"
    r"|falar com (?:uma |alguma )?pessoa|falar com alguem)\b"
)
_PRICE = re.compile(
    r"\bquanto (?:custa|custam|custaria|fica|ficaria|sai|sairia|cobra|cobram)\b"
    r"|\bprecos?\b|\bqual (?:o |e o )?valor\b|\bvalor(?:es)?\b[^?]*\?"
)
_WORD = re.compile(r"[^\W_]+")
_GREETING_WORDS = frozenset(
    {"oi", "oii", "oie", "ola", "opa", "eai", "ei", "salve", "bom", "boa", "dia", "tarde"}
    | {"noite", "tudo", "bem", "e", "ai"}
)
_ACKNOWLEDGEMENT_WORDS = frozenset(
    {"ok", "okay", "certo", "sim", "nao", "beleza", "blz", "obrigado", "obrigada", "valeu"}
    | {"vlw", "ta", "entendi", "show", "perfeito", "claro", "hm", "hmm", "ah", "aham"}
)


def asks_for_a_person(said: Folded) -> bool:
    return _HUMAN.search(said.folded) is not None


def asks_the_price(said: Folded) -> bool:
    return _PRICE.search(said.folded) is not None


def is_greeting(said: Folded) -> bool:
    words = set(_WORD.findall(said.folded))
    return bool(words) and words <= _GREETING_WORDS


def is_filler(said: Folded) -> bool:
    """Nothing but greetings, acknowledgements, emoji or punctuation."""
    return set(_WORD.findall(said.folded)) <= _GREETING_WORDS | _ACKNOWLEDGEMENT_WORDS


def is_question(said: Folded) -> bool:
    return said.text.rstrip().endswith("?")
