"""Values for the lead's fields, read from a burst of customer messages, each with a
confidence that says how it was read:

- `CHOSEN` (0.95): an interactive reply whose id or title names a service;
- `DIRECT` (0.9): the answer to the question the bot just asked;
- `SPOTTED` (0.85): recognised by a pattern in free text ("somos da Acme em Curitiba",
  "orçamento de uns 30 mil", "para março");
- `HINT` (0.6): either of the last two in a hedged sentence ("talvez", "não sei, uns
  20 mil"). Below the domain's threshold (0.8): recorded as rejected, not as fact.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

from adapters.llm import intents
from adapters.llm.budget import read_budget
from adapters.llm.folded import Folded
from adapters.llm.names import find_city, find_company
from adapters.llm.services import chosen_service, named_service, service_answer
from contracts.ports.responder import FieldGuess, Pending
from contracts.vocabulary import LeadField, MessageType

CHOSEN = 0.95
DIRECT = 0.9
SPOTTED = 0.85
HINT = 0.6
ACCEPTED = 0.8
"""The domain's default threshold: a guess below it is not taken as fact."""

UNDECIDED = "a definir"

_READABLE_TYPES = frozenset(
    {MessageType.TEXT, MessageType.INTERACTIVE, MessageType.BUTTON}
    | {MessageType.IMAGE, MessageType.VIDEO, MessageType.DOCUMENT}  # a caption is text
)

_MONTH = (
    r"(?:janeiro|fevereiro|marco|abril|maio|junho|julho|agosto|setembro|outubro"
    r"|novembro|dezembro)"
)
_PART = r"(?:(?:o |a )?(?:inicio|comeco|meio|metade|final|fim) d[eoa] )"
_COUNT = r"(?:\d{1,3}|um|uma|dois|duas|tres|quatro|cinco|seis|sete|oito|nove|dez|doze)"
_WHEN = (
    rf"(?:{_PART}?{_MONTH}(?: de \d{{4}})?|{_COUNT} (?:dias?|semanas?|mes|meses|anos?)"
    r"|(?:o |a )?proxim[oa] (?:semana|mes|ano|semestre|trimestre)"
    r"|(?:o |a )?(?:semana|mes|ano|semestre) que vem"
    rf"|{_PART}(?:ano|mes|semestre|trimestre)|\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?)"
)
_DEADLINE = re.compile(
    rf"\b(?:(?:para|pra|ate|em|no|na|dentro de|daqui a) {_WHEN}\b"
    rf"|prazo (?:de |e |seria )?{_WHEN}\b|o quanto antes|o mais (?:rapido|breve) possivel"
    r"|com urgencia|urgente|(?:para|pra) ontem|imediatamente|sem pressa)"
)
_PAIN = re.compile(
    r"\b(?:problemas?|dificuldades?|desafios?|gargalos?|dor de cabeca|perdemos|perdendo"
    r"|sofremos|retrabalho|reclamam|reclamacoes|atrasos?|demora)\b"
)
_NO_PAIN = re.compile(
    r"\b(?:sem|nenhum|nenhuma|nao (?:tem|temos|ha|tenho)) (?:problemas?|dificuldades?)\b"
    r"|\bproblema nenhum\b"
)
_HEDGE = re.compile(
    r"\b(?:talvez|nao sei|sei la|acho que|acredito que|quem sabe|provavelmente"
    r"|possivelmente|pode ser|nao tenho certeza|sei nao)\b"
)
_UNDECIDED = re.compile(
    r"\W*(?:ainda )?(?:nao sei|nao sabemos|nao faco ideia|nao tenho ideia|nao definimos"
    r"|nao definido|nao temos|a definir|indefinido|sem (?:prazo|orcamento)(?: definido)?)"
    r"(?: ainda)?\W*"
)
_MAY_BE_UNDECIDED = frozenset({LeadField.BUDGET_RANGE, LeadField.DEADLINE})
_COMPANY_LEAD_IN = re.compile(
    r"(?:(?:o |a )?nome (?:da (?:minha |nossa )?empresa )?e |(?:a |minha |nossa )?empresa "
    r"(?:se chama |chama |e )|se chama |chama |somos (?:a |o |da |do )?|sou (?:da |do )"
    r"|e (?:a |o )?)"
)
_CITY_LEAD_IN = re.compile(
    r"(?:(?:a )?cidade (?:e |de )?|(?:aqui |fica |ficamos |estamos |moro |moramos |somos "
    r"|sou |e )?(?:em|de|no|na) )"
)
_CLAUSE_END = re.compile(r"[,;!?\n]|\.(?:\s|$)")
_SENTENCE = re.compile(r"(?:[^.!?;\n]|\.(?=\S))+[.!?;]*")
_MASKED = re.compile(r"\[(?:telefone|email|cpf|cnpj|cartão)\]")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.;:!?])")


def is_readable(message: Pending) -> bool:
    """Text the customer wrote or chose: a body, a caption, an option."""
    has_text = bool(message.text and message.text.strip())
    return message.type in _READABLE_TYPES and (has_text or message.reply_id is not None)


def extract(messages: Sequence[Pending], asked: LeadField | None) -> tuple[FieldGuess, ...]:
    """The most confident guess per field across `messages` (the later one on a tie).
    The first message that answers `asked` is read as the answer to it."""
    best: dict[LeadField, FieldGuess] = {}
    answered = False
    for message in filter(is_readable, messages):
        said = Folded.of(message.text or "")
        found = list(_spotted(said))
        chosen = chosen_service(message, said)
        if chosen is not None:
            found.append((LeadField.SERVICE_INTEREST, chosen.value, CHOSEN))
        elif asked is not None and not answered and _answers(said):
            answer = _answer(asked, said)
            if answer is not None:
                answered = True
                found.append((asked, *answer))
        for field, value, confidence in found:
            guess = _guess(field, value, confidence, message.ref)
            if guess is not None and (field not in best or confidence >= best[field].confidence):
                best[field] = guess
    return tuple(best[field] for field in LeadField if field in best)


def _answers(said: Folded) -> bool:
    return not (
        intents.is_filler(said)
        or intents.is_question(said)
        or intents.asks_for_a_person(said)
        or intents.asks_the_price(said)
    )


def _answer(field: LeadField, said: Folded) -> tuple[str, float] | None:
    if _UNDECIDED.fullmatch(said.folded):
        return (UNDECIDED, DIRECT) if field in _MAY_BE_UNDECIDED else None
    value = _ANSWERS[field](said)
    if value is None:
        return None
    return value, HINT if _HEDGE.search(said.folded) else DIRECT


def _spotted(said: Folded) -> Iterator[tuple[LeadField, str, float]]:
    for match in _SENTENCE.finditer(said.folded):
        sentence = said.part(*match.span())
        confidence = HINT if _HEDGE.search(sentence.folded) else SPOTTED
        for field, value in _patterns(sentence):
            if value is not None:
                yield field, value, confidence


def _patterns(sentence: Folded) -> Iterator[tuple[LeadField, str | None]]:
    service = named_service(sentence)
    yield LeadField.SERVICE_INTEREST, service.value if service is not None else None
    yield LeadField.COMPANY_NAME, find_company(sentence)
    yield LeadField.CITY, find_city(sentence)
    yield LeadField.BUDGET_RANGE, read_budget(sentence, asked=False)
    deadline = _DEADLINE.search(sentence.folded)
    yield LeadField.DEADLINE, sentence.text[slice(*deadline.span())] if deadline else None
    yield LeadField.PAIN_POINTS, sentence.text if _a_pain(sentence) else None


def _a_pain(sentence: Folded) -> bool:
    return (
        _PAIN.search(sentence.folded) is not None
        and _NO_PAIN.search(sentence.folded) is None
        and not intents.is_question(sentence)
    )


def _bare_name(said: Folded, lead_in: re.Pattern[str], max_words: int) -> str | None:
    """The first clause of a short answer ("é a Acme, de Curitiba" → "Acme")."""
    start = lead_in.match(said.folded)
    begin = start.end() if start else 0
    end = _CLAUSE_END.search(said.folded, begin)
    name = said.text[begin : end.start() if end else None].strip().rstrip(".")
    return name if 0 < len(name.split()) <= max_words else None


def _service(said: Folded) -> str | None:
    service = service_answer(said)
    return service.value if service is not None else None


def _whole(said: Folded) -> str | None:
    return said.text


_ANSWERS: dict[LeadField, Callable[[Folded], str | None]] = {
    LeadField.SERVICE_INTEREST: _service,
    LeadField.COMPANY_NAME: lambda said: (
        find_company(said) or _bare_name(said, _COMPANY_LEAD_IN, max_words=8)
    ),
    LeadField.CITY: lambda said: find_city(said) or _bare_name(said, _CITY_LEAD_IN, max_words=6),
    LeadField.BUDGET_RANGE: lambda said: read_budget(said, asked=True),
    LeadField.DEADLINE: _whole,
    LeadField.PAIN_POINTS: _whole,
}


def _guess(field: LeadField, value: str, confidence: float, ref: str) -> FieldGuess | None:
    """Without masked personal data, and within what `FieldGuess` holds."""
    value = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join(_MASKED.sub(" ", value).split()))
    value = value[:500].strip()
    if not value:
        return None
    return FieldGuess(field=field, value=value, confidence=confidence, evidence_ref=ref)
