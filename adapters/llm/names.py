"""Names a customer gives in passing: their company ("somos da Acme") and their city
("aqui em Curitiba"). A name after a marker counts only when capitalised; a known city
counts after a preposition, or alone, in any case ("sou de curitiba")."""

from __future__ import annotations

import re

from adapters.llm.folded import Folded

_KNOWN_CITIES = (
    "São Paulo",
    "Rio de Janeiro",
    "Belo Horizonte",
    "Brasília",
    "Salvador",
    "Fortaleza",
    "Curitiba",
    "Manaus",
    "Recife",
    "Porto Alegre",
    "Belém",
    "Goiânia",
    "Guarulhos",
    "Campinas",
    "São Luís",
    "São Gonçalo",
    "Maceió",
    "Duque de Caxias",
    "Campo Grande",
    "Teresina",
    "São Bernardo do Campo",
    "Nova Iguaçu",
    "João Pessoa",
    "Santo André",
    "Osasco",
    "São José dos Campos",
    "Ribeirão Preto",
    "Uberlândia",
    "Sorocaba",
    "Contagem",
    "Aracaju",
    "Feira de Santana",
    "Cuiabá",
    "Joinville",
    "Juiz de Fora",
    "Londrina",
    "Niterói",
    "Porto Velho",
    "Caxias do Sul",
    "Macapá",
    "Florianópolis",
    "Vila Velha",
    "Maringá",
    "Blumenau",
    "Boa Vista",
    "Rio Branco",
    "Campina Grande",
    "Piracicaba",
    "Bauru",
    "Jundiaí",
    "Pelotas",
    "Chapecó",
    "Cascavel",
    "Foz do Iguaçu",
    "Petrópolis",
    "Balneário Camboriú",
    "Itajaí",
    "Anápolis",
    "Montes Claros",
    "Uberaba",
    "Barueri",
)
"""Cities whose name is not also a common word: "Natal", "Vitória", "Serra" and
"Palmas" are left to direct answers."""

_STATES = frozenset(
    {
        "acre",
        "alagoas",
        "amapa",
        "amazonas",
        "bahia",
        "ceara",
        "distrito federal",
        "espirito santo",
        "goias",
        "maranhao",
        "mato grosso",
        "mato grosso do sul",
        "minas gerais",
        "para",
        "paraiba",
        "parana",
        "pernambuco",
        "piaui",
        "rondonia",
        "roraima",
        "sergipe",
        "tocantins",
    }
)
_MONTHS = frozenset(
    {
        "janeiro",
        "fevereiro",
        "marco",
        "abril",
        "maio",
        "junho",
        "julho",
        "agosto",
        "setembro",
        "outubro",
        "novembro",
        "dezembro",
    }
)

_CITY_BY_FOLDED = {Folded.of(city).folded: city for city in _KNOWN_CITIES}
_CITY_NAMES = "|".join(sorted(map(re.escape, _CITY_BY_FOLDED), key=len, reverse=True))
_KNOWN_CITY = re.compile(rf"\b(?:em|de|no|na|para|pra)\s+(?P<city>{_CITY_NAMES})\b")
_ONLY_A_KNOWN_CITY = re.compile(rf"\W*(?P<city>{_CITY_NAMES})(?:\s*[-/,]?\s*[a-z]{{2}})?\W*")
_CITY_MARKER = re.compile(
    r"\b(?:sou de|somos de|moro em|moramos em|sediad[ao]s? em|localizad[ao]s? em"
    r"|basead[ao]s? em|cidade de|cidade e|aqui em)\s+"
)
_COMPANY_MARKER = re.compile(
    r"\b(?:somos (?:a|o|da|do)|sou (?:da|do)|trabalho (?:na|no|pela|pelo)|represento (?:a|o)"
    r"|aqui e (?:a|o|da|do)|empresa (?:se chama|chamada|chama)"
    r"|nome da (?:minha |nossa )?empresa e)\s+"
)
_CAPITALISED = r"[A-Z0-9À-ÖØ-Þ][\w&'.-]*"
_CONNECTOR = r"(?:(?:de|do|da|dos|das|e|&)\s+)"
_PROPER_NAME = re.compile(rf"{_CAPITALISED}(?:\s+{_CONNECTOR}?{_CAPITALISED}){{0,4}}")


def find_city(said: Folded) -> str | None:
    known = _KNOWN_CITY.search(said.folded) or _ONLY_A_KNOWN_CITY.fullmatch(said.folded)
    if known is not None:
        return _CITY_BY_FOLDED[known["city"]]
    return _name_after(_CITY_MARKER, said)


def find_company(said: Folded) -> str | None:
    return _name_after(_COMPANY_MARKER, said)


def _name_after(marker: re.Pattern[str], said: Folded) -> str | None:
    for found in marker.finditer(said.folded):
        name = _PROPER_NAME.match(said.text, found.end())
        if name is None:
            continue
        text = name.group().rstrip(".-'")
        folded = said.part(name.start(), name.start() + len(text)).folded
        if text and folded not in _STATES | _MONTHS and folded not in _CITY_BY_FOLDED:
            return text
    return None
