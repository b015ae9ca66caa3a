"""Which service a customer names: one of the four the bot offers, or none when the
words fit several. Matched against folded text (`Folded.folded`)."""

from __future__ import annotations

import re

from adapters.llm.folded import Folded
from contracts.ports.responder import Pending
from contracts.vocabulary import MessageType, ServiceInterest

OFFERED = (
    (ServiceInterest.CUSTOM_SOFTWARE, "Software sob medida"),
    (ServiceInterest.SAAS_ADAPTABLE, "SaaS adaptável"),
    (ServiceInterest.TRAFFIC_PROFILE, "Perfil de tráfego/anúncios"),
    (ServiceInterest.OTHER, "Outro"),
)
"""The options, in the order the bot lists and numbers them."""

_Patterns = tuple[tuple[ServiceInterest, re.Pattern[str]], ...]

_NAMED: _Patterns = (
    (
        ServiceInterest.CUSTOM_SOFTWARE,
        re.compile(
            r"sob medida|personalizad[oa]|\b(?:desenvolver|criar|construir|fazer)"
            r" (?:um |uma |o |a |nosso |nossa )?(?:sistema|software|app|aplicativo|site|erp"
            r"|crm)\b"
        ),
    ),
    (
        ServiceInterest.SAAS_ADAPTABLE,
        re.compile(
            r"\bsaas\b|\b(?:plataforma|sistema|software|solucao) (?:pronta|pronto|adaptavel)\b"
        ),
    ),
    (
        ServiceInterest.TRAFFIC_PROFILE,
        re.compile(
            r"\btrafego\b|\banuncios?\b|\bads\b|marketing digital"
            r"|gestao de (?:trafego|redes sociais)"
        ),
    ),
    (ServiceInterest.OTHER, re.compile(r"^\W*(?:outros?|outra coisa)\W*$")),
)
_HINTED: _Patterns = (
    (
        ServiceInterest.CUSTOM_SOFTWARE,
        re.compile(r"\b(?:sistema|software|app|aplicativo|site|erp|crm|automacao|integracao)\b"),
    ),
    (ServiceInterest.SAAS_ADAPTABLE, re.compile(r"\b(?:plataforma|assinatura|mensalidade)\b")),
    (
        ServiceInterest.TRAFFIC_PROFILE,
        re.compile(r"\b(?:marketing|instagram|facebook|google|divulgacao|campanhas?)\b"),
    ),
)
_OPTION = re.compile(r"\W*(?:opcao\s*)?(?P<number>[1-4])\W*")
_CHOICE_TYPES = frozenset({MessageType.INTERACTIVE, MessageType.BUTTON})


def named_service(said: Folded) -> ServiceInterest | None:
    """A service named in so many words ("sob medida", "SaaS", "tráfego", "outro")."""
    return _one(_services(said.folded, _NAMED))


def chosen_service(message: Pending, said: Folded) -> ServiceInterest | None:
    """The service an interactive reply names, by its id or its title."""
    if message.type not in _CHOICE_TYPES:
        return None
    reply_id = Folded.of(re.sub(r"[\W_]+", " ", message.reply_id or "")).folded
    by_enum_name = {
        service
        for service in ServiceInterest
        if re.search(rf"\b{service.value.lower().replace('_', ' ')}\b", reply_id)
    }
    return _one(by_enum_name | _services(reply_id, _NAMED)) or named_service(said)


def service_answer(said: Folded) -> ServiceInterest | None:
    """The service an answer to "which service?" names: by its number, its name, or
    words that fit one service only ("um aplicativo")."""
    option = _OPTION.fullmatch(said.folded)
    if option is not None:
        return OFFERED[int(option["number"]) - 1][0]
    return named_service(said) or _one(_services(said.folded, _HINTED))


def _services(folded: str, patterns: _Patterns) -> set[ServiceInterest]:
    return {service for service, pattern in patterns if pattern.search(folded)}


def _one(services: set[ServiceInterest]) -> ServiceInterest | None:
    return next(iter(services)) if len(services) == 1 else None
