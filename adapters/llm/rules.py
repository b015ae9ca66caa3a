"""The `rules` responder: the default one, offline and deterministic (the same
conversation always gives the same draft), so that Switchboard runs, and its tests
run, without a model.

It walks a pt-BR qualification script: it greets a first contact, then asks for the
lead's missing fields one at a time (service, company, city, budget, deadline, pain
points), reads the answers and what the customer volunteers (`extraction`), hands the
conversation to a person when asked to, and says goodbye once every field is known.
Its replies are fixed sentences: they never repeat what the customer wrote, so they
cannot echo a phone number or a masked value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from adapters.llm.extraction import ACCEPTED, extract, is_readable
from adapters.llm.folded import Folded
from adapters.llm.intents import asks_for_a_person, asks_the_price, is_greeting
from adapters.llm.services import OFFERED
from contracts.envelope import Actor
from contracts.ports.responder import Conversation, Draft, FieldGuess, Handoff, Turn
from contracts.vocabulary import HandoffReason, LeadField, ServiceInterest

_OPTIONS = ", ".join(f"{number}) {label}" for number, (_, label) in enumerate(OFFERED, 1))
_QUESTIONS = {
    LeadField.SERVICE_INTEREST: f"Qual serviço te interessa: {_OPTIONS}?",
    LeadField.COMPANY_NAME: "Qual o nome da sua empresa?",
    LeadField.CITY: "Em qual cidade vocês estão?",
    LeadField.BUDGET_RANGE: "Qual a faixa de orçamento que vocês têm em mente para o projeto?",
    LeadField.DEADLINE: "Qual o prazo ideal para ter isso funcionando?",
    LeadField.PAIN_POINTS: "Qual o principal desafio que vocês querem resolver com isso?",
}
"""In the order they are asked."""
_ASKED_BY = {
    LeadField.SERVICE_INTEREST: re.compile(r"\bqua(?:l|is) (?:desses )?servicos?\b"),
    LeadField.COMPANY_NAME: re.compile(r"\bnome da (?:sua )?empresa\b"),
    LeadField.CITY: re.compile(r"\bcidade\b"),
    LeadField.BUDGET_RANGE: re.compile(r"\borcamento\b"),
    LeadField.DEADLINE: re.compile(r"\bprazo\b"),
    LeadField.PAIN_POINTS: re.compile(r"\b(?:desafio|problema)\b"),
}
"""How a bot turn is recognised as one of the questions (the last one in it counts).
No other sentence of this module holds these words."""

_GREETING = "Olá! Sou o assistente virtual da equipe comercial e vou te ajudar por aqui."
_HELLO = "Olá!"
_NOTED = "Obrigado, anotei!"
_PRICING = (
    "Os valores dependem do escopo de cada projeto: um especialista prepara a proposta "
    "depois de entender a sua necessidade."
)
_ASKING_AGAIN = "Só para eu registrar certinho:"
_TEXT_ONLY = "Desculpe, por aqui consigo ler apenas mensagens de texto."
_ANYTHING_ELSE = "Se quiser acrescentar algo, é só escrever."
_PERSON = (
    "Claro! Vou passar o seu atendimento para uma pessoa da nossa equipe, que continua a "
    "conversa por aqui em breve."
)
_THANKS = "Obrigado pelas informações!"
_SPECIALIST = (
    "Um especialista da nossa equipe vai analisar o seu pedido e entrar em contato em "
    "breve. Até logo!"
)
_LABELS = {
    service.value: label for service, label in OFFERED if service is not ServiceInterest.OTHER
}


class RulesResponder:
    """`Responder` without a model. `tokens` is always None."""

    @property
    def name(self) -> str:
        return "rules"

    def draft(self, conversation: Conversation) -> Draft:
        readable = [message for message in conversation.pending if is_readable(message)]
        if not readable:
            return _text_only(conversation)
        first_contact = not conversation.history
        said = [Folded.of(message.text or "") for message in readable]
        asked = _asked(conversation.history)
        fields = tuple(
            guess
            for guess in extract(readable, asked)
            if not _already_collected(guess, conversation.collected)
        )
        missing = _missing(conversation.collected, fields)
        if any(map(asks_for_a_person, said)):
            return Draft(
                text=_PERSON,
                intent="human_request",
                fields=fields,
                handoff=Handoff(reason=HandoffReason.USER_REQUESTED),
            )
        if not missing:
            return Draft(
                text=_goodbye(conversation.collected, fields),
                intent="qualified",
                fields=fields,
                handoff=Handoff(reason=HandoffReason.QUALIFIED),
            )
        pricing = any(map(asks_the_price, said))
        greeting = first_contact or all(map(is_greeting, said))
        noted = any(guess.confidence >= ACCEPTED for guess in fields)
        text = _join(
            _GREETING if first_contact else _HELLO if greeting else "",
            _NOTED if noted else "",
            _PRICING if pricing else "",
            _question(missing[0], asked_again=missing[0] == asked),
        )
        return Draft(text=text, intent=_intent(pricing, greeting, fields), fields=fields)


def _text_only(conversation: Conversation) -> Draft:
    """Nothing to read (media, a sticker, a location...): ask for text, then for the
    next missing field, so that the answer is still recognised as one."""
    missing = _missing(conversation.collected, ())
    question = _QUESTIONS[missing[0]] if missing else _ANYTHING_ELSE
    greeting = "" if conversation.history else _GREETING
    return Draft(text=_join(greeting, _TEXT_ONLY, question), intent="unsupported_content")


def _asked(history: Sequence[Turn]) -> LeadField | None:
    """The question the bot asked last, if the last word before the customer's was the
    bot's (not an operator's)."""
    last = next((turn for turn in reversed(history) if turn.actor is not Actor.USER), None)
    if last is None or last.actor is not Actor.LLM:
        return None
    folded = Folded.of(last.text).folded
    positions = {
        field: max(match.start() for match in cue.finditer(folded))
        for field, cue in _ASKED_BY.items()
        if cue.search(folded)
    }
    return max(positions, key=positions.__getitem__, default=None)


def _missing(collected: Mapping[LeadField, str], fields: Sequence[FieldGuess]) -> list[LeadField]:
    known = set(collected) | {guess.field for guess in fields if guess.confidence >= ACCEPTED}
    return [field for field in _QUESTIONS if field not in known]


def _already_collected(guess: FieldGuess, collected: Mapping[LeadField, str]) -> bool:
    applied = collected.get(guess.field)
    return (
        applied is not None and Folded.of(applied.strip()).folded == Folded.of(guess.value).folded
    )


def _question(field: LeadField, *, asked_again: bool) -> str:
    question = _QUESTIONS[field]
    if asked_again:
        return f"{_ASKING_AGAIN} {question[0].lower()}{question[1:]}"
    return question


def _goodbye(collected: Mapping[LeadField, str], fields: Sequence[FieldGuess]) -> str:
    service = next(
        (
            guess.value
            for guess in fields
            if guess.field is LeadField.SERVICE_INTEREST and guess.confidence >= ACCEPTED
        ),
        collected.get(LeadField.SERVICE_INTEREST),
    )
    label = _LABELS.get(service or "")
    interest = f"Anotei o seu interesse em {label}." if label else ""
    return _join(_THANKS, interest, _SPECIALIST)


def _intent(pricing: bool, greeting: bool, fields: Sequence[FieldGuess]) -> str:
    if pricing:
        return "pricing"
    if greeting:
        return "greeting"
    if any(guess.field is LeadField.SERVICE_INTEREST for guess in fields):
        return "service_interest"
    return "provide_info" if fields else "other"


def _join(*sentences: str) -> str:
    return " ".join(sentence for sentence in sentences if sentence)
