"""Budgets as customers write them ("R$ 30 mil", "30k", "entre 20 e 50 mil", "até
R$ 1,5 milhão"), read into one readable range: "R$ 20 mil a R$ 50 mil"."""

from __future__ import annotations

import re
from dataclasses import dataclass

from adapters.llm.folded import Folded

_AMOUNT = re.compile(
    r"(?<![\w.,])(?P<currency>r\$\s*)?"
    r"(?P<number>\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?|\d{1,12}(?:[.,]\d{1,2})?)(?!\d)"
    r"\s*(?P<unit>mil|k|milhao|milhoes|mi)?\b(?P<reais>\s*(?:de\s+)?reais\b)?"
)
_UNITS = {"mil": 1e3, "k": 1e3, "milhao": 1e6, "milhoes": 1e6, "mi": 1e6}
_BUDGET_WORDS = re.compile(
    r"\b(?:orcamento|investimento|investir|verba|budget|gastar|pagar|custo|valor)\b"
)
_RANGE_START = re.compile(r"(?:\bentre|\bde|\bdos|\bdas)\s*$")
_RANGE_SEPARATOR = re.compile(r"\s*(?:a|e|ate|-|\u2013|/)\s*")
_QUALIFIERS = (
    (re.compile(r"\b(?:ate|no maximo|maximo de)\s*$"), "até "),
    (
        re.compile(r"\b(?:acima de|mais de|a partir de|pelo menos|no minimo|minimo de)\s*$"),
        "acima de ",
    ),
    (
        re.compile(
            r"\b(?:uns|umas|cerca de|aproximadamente|por volta de|em torno de|mais ou menos"
            r"|perto de)\s*$"
        ),
        "cerca de ",
    ),
)


@dataclass(frozen=True)
class _Amount:
    start: int
    end: int
    reais: float
    money: bool
    """Written as money: `R$`, "reais"."""
    unit: float | None


def read_budget(said: Folded, *, asked: bool) -> str | None:
    """The first budget in `said`. In free text an amount counts when written as money
    ("R$ 30 mil", "500 reais") or with a unit beside a budget word ("orçamento de 30k"):
    "temos 30 mil clientes" is no budget. In an answer to the budget question, any
    amount with a unit counts, and a bare number from 100 up."""
    amounts = [_amount(match) for match in _AMOUNT.finditer(said.folded)]
    money_context = _BUDGET_WORDS.search(said.folded) is not None
    for first, second in zip(amounts, [*amounts[1:], None], strict=False):
        if second is not None and _a_range(first, second, said.folded):
            unit = second.unit or first.unit
            low = first.reais * (unit or 1) if first.unit is None else first.reais
            high = second.reais * (unit or 1) if second.unit is None else second.reais
            found = _Amount(first.start, second.end, high, first.money or second.money, unit)
            budget = _range(low, high)
        else:
            found, budget = first, _qualified(first, said.folded)
        if found.reais > 0 and _counts(found, asked=asked, context=money_context):
            return budget
    return None


def _qualified(amount: _Amount, folded: str) -> str:
    before = _before(folded, amount)
    qualifier = next((words for pattern, words in _QUALIFIERS if pattern.search(before)), "")
    return qualifier + _in_reais(amount.reais)


def _amount(match: re.Match[str]) -> _Amount:
    number = match["number"]
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?", number):
        number = number.replace(".", "")
    unit = _UNITS[match["unit"]] if match["unit"] else None
    money = bool(match["currency"] or match["reais"])
    value = float(number.replace(",", ".")) * (unit or 1)
    return _Amount(match.start(), match.end(), value, money, unit)


def _counts(amount: _Amount, *, asked: bool, context: bool) -> bool:
    if asked:
        return amount.money or amount.unit is not None or amount.reais >= 100
    return amount.money or (amount.unit is not None and context)


def _a_range(first: _Amount, second: _Amount, folded: str) -> bool:
    between = folded[first.end : second.start]
    if _RANGE_SEPARATOR.fullmatch(between) is None or second.reais <= 0:
        return False
    marked = second.money or second.unit is not None
    return marked or _RANGE_START.search(_before(folded, first)) is not None


def _before(folded: str, amount: _Amount) -> str:
    """The few words before `amount`, where a qualifier ("até", "entre") would be."""
    return folded[max(0, amount.start - 24) : amount.start]


def _range(low: float, high: float) -> str:
    low, high = sorted((low, high))
    if low <= 0 or _in_reais(low) == _in_reais(high):
        return _in_reais(high)
    return f"{_in_reais(low)} a {_in_reais(high)}"


def _in_reais(value: float) -> str:
    if value >= 1e6:
        millions = value / 1e6
        return f"R$ {_decimal(millions)} {'milhão' if millions < 2 else 'milhões'}"
    if value >= 1e3:
        return f"R$ {_decimal(value / 1e3)} mil"
    return f"R$ {_decimal(value)}"


def _decimal(number: float) -> str:
    return f"{number:.1f}".removesuffix(".0").replace(".", ",")
