"""The conversation's tunable rules, handed to decisions like the time is."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field

from contracts.frozen import Frozen
from domain.flood import FloodPolicy

WARNING_TEXT = (
    "Recebemos muitas mensagens em sequência e pausamos este atendimento por segurança. "
    "Aguarde {wait} e envie uma nova mensagem para continuar."
)


def _duration(minutes: int) -> str:
    """Portuguese, as a person would say it: "1 minuto", "15 minutos", "2 horas"."""
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hora" if hours == 1 else f"{hours} horas"
    return f"{minutes} minuto" if minutes == 1 else f"{minutes} minutos"


class ConversationPolicy(Frozen):
    session_ttl: timedelta = timedelta(hours=24)
    """A session with no message either way for this long is over; the next message
    opens a new one."""
    reply_debounce: timedelta = timedelta(milliseconds=1500)
    """A burst (each message within this of the previous) gets one reply."""
    lead_confidence_threshold: Annotated[float, Field(ge=0, le=1)] = 0.8
    flood: FloodPolicy = FloodPolicy()
    send_lease: timedelta = timedelta(seconds=90)
    """Longer than any one send may take (the channel's timeouts and retries)."""
    status_link_grace: timedelta = timedelta(seconds=20)
    """How long a status waits, from its webhook's arrival, for its outbound's link:
    WhatsApp may report on a message before its answer to the send is recorded (at
    most one request timeout of the channel, 10 s). After it the message is taken as
    not ours (a Coexistence number's app, another tool) and the status as unmatched."""

    def warning(self, minutes: int) -> str:
        return WARNING_TEXT.format(wait=_duration(minutes))
