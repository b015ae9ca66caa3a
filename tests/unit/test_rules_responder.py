"""The `rules` responder: the offline pt-BR qualification script, and how honestly it
rates what it reads."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.llm.rules import RulesResponder
from contracts.envelope import Actor
from contracts.ports.responder import Conversation, Draft, FieldGuess, Pending, Turn
from contracts.vocabulary import HandoffReason, LeadField, LeadStatus, MessageType, ServiceInterest

QUESTIONS = {
    LeadField.SERVICE_INTEREST: "Qual serviço te interessa: 1) Software sob medida, "
    "2) SaaS adaptável, 3) Perfil de tráfego/anúncios, 4) Outro?",
    LeadField.COMPANY_NAME: "Qual o nome da sua empresa?",
    LeadField.CITY: "Em qual cidade vocês estão?",
    LeadField.BUDGET_RANGE: "Qual a faixa de orçamento que vocês têm em mente para o projeto?",
    LeadField.DEADLINE: "Qual o prazo ideal para ter isso funcionando?",
    LeadField.PAIN_POINTS: "Qual o principal desafio que vocês querem resolver com isso?",
}
"""The bot's questions as a worker would hand them back in `history`."""

ACCEPTED = 0.8
"""The domain's default threshold."""

COLLECTED = {
    LeadField.SERVICE_INTEREST: "TRAFFIC_PROFILE",
    LeadField.COMPANY_NAME: "Acme",
    LeadField.CITY: "Recife",
    LeadField.BUDGET_RANGE: "R$ 5 mil",
    LeadField.DEADLINE: "junho",
    LeadField.PAIN_POINTS: "poucos clientes",
}

responder = RulesResponder()


def ref(n: int) -> str:
    return hashlib.sha256(f"wamid-{n}".encode()).hexdigest()


def text(n: int, body: str) -> Pending:
    return Pending(ref=ref(n), type=MessageType.TEXT, text=body)


def conversation(
    *pending: Pending,
    asked: LeadField | None = None,
    collected: Mapping[LeadField, str] | None = None,
) -> Conversation:
    """A conversation past its greeting. `asked` is the question the bot asked last;
    unless told otherwise, the fields asked before it are collected."""
    history = (Turn(actor=Actor.USER, text="Oi"), Turn(actor=Actor.LLM, text="Olá!"))
    if asked is not None:
        history = (Turn(actor=Actor.USER, text="Oi"), Turn(actor=Actor.LLM, text=QUESTIONS[asked]))
    if collected is None:
        collected = {field: COLLECTED[field] for field in fields_before(asked)}
    return Conversation(
        lead_status=LeadStatus.QUALIFYING,
        collected=collected,
        history=history,
        pending=pending,
    )


def fields_before(asked: LeadField | None) -> list[LeadField]:
    order = list(QUESTIONS)
    return order[: order.index(asked)] if asked is not None else []


def guessed(draft: Draft, field: LeadField) -> FieldGuess:
    found = [guess for guess in draft.fields if guess.field is field]
    assert len(found) == 1, draft.fields
    return found[0]


def assert_well_formed(draft: Draft, pending: tuple[Pending, ...]) -> None:
    assert Draft.model_validate(draft.model_dump()) == draft
    assert len(draft.text) < 400
    assert draft.tokens is None
    assert "[" not in draft.text  # no masked value, and no customer text, is echoed
    for guess in draft.fields:
        assert guess.evidence_ref in {message.ref for message in pending}
        assert 0 <= guess.confidence <= 1
        if guess.field is LeadField.SERVICE_INTEREST:
            assert guess.value in set(ServiceInterest)


# --- the script ----------------------------------------------------------------------


def test_a_scripted_conversation_goes_from_greeting_to_a_qualified_handoff() -> None:
    """The worker's loop: the customer's turn, the bot's draft, the domain applying the
    confident guesses; each reply asks for the next missing field, in order."""
    script = [
        ("Oi, bom dia!", "greeting", LeadField.SERVICE_INTEREST, None),
        ("2", "service_interest", LeadField.COMPANY_NAME, ServiceInterest.SAAS_ADAPTABLE),
        ("A empresa se chama Padaria Pão Quente", "provide_info", LeadField.CITY, None),
        ("Curitiba", "provide_info", LeadField.BUDGET_RANGE, None),
        ("talvez uns 20 mil", "provide_info", LeadField.BUDGET_RANGE, None),
        ("entre 20 e 50 mil", "provide_info", LeadField.DEADLINE, None),
        ("para março", "provide_info", LeadField.PAIN_POINTS, None),
        ("Perdemos pedidos porque tudo é anotado no papel", "qualified", None, None),
    ]
    history: tuple[Turn, ...] = ()
    collected: dict[LeadField, str] = {}
    for number, (said, intent, next_question, service) in enumerate(script):
        pending = (text(number, said),)
        draft = responder.draft(
            Conversation(
                lead_status=LeadStatus.QUALIFYING if history else LeadStatus.OPEN,
                collected=collected,
                history=history,
                pending=pending,
            )
        )
        assert_well_formed(draft, pending)
        assert draft.intent == intent, said
        if next_question is not None:
            assert draft.text.endswith(QUESTIONS[next_question][1:]), draft.text
            assert draft.handoff is None
        if service is not None:
            assert guessed(draft, LeadField.SERVICE_INTEREST).value == service
        collected |= {g.field: g.value for g in draft.fields if g.confidence >= ACCEPTED}
        history += (Turn(actor=Actor.USER, text=said), Turn(actor=Actor.LLM, text=draft.text))

    assert draft.handoff is not None
    assert draft.handoff.reason is HandoffReason.QUALIFIED
    assert "especialista" in draft.text
    assert "SaaS adaptável" in draft.text
    assert collected == {
        LeadField.SERVICE_INTEREST: "SAAS_ADAPTABLE",
        LeadField.COMPANY_NAME: "Padaria Pão Quente",
        LeadField.CITY: "Curitiba",
        LeadField.BUDGET_RANGE: "R$ 20 mil a R$ 50 mil",
        LeadField.DEADLINE: "para março",
        LeadField.PAIN_POINTS: "Perdemos pedidos porque tudo é anotado no papel",
    }


def test_a_first_contact_is_greeted_and_offered_the_four_services() -> None:
    draft = responder.draft(
        Conversation(lead_status=LeadStatus.OPEN, pending=(text(1, "Olá, tudo bem?"),))
    )
    assert draft.intent == "greeting"
    assert draft.text.startswith("Olá!")
    assert "assistente virtual" in draft.text
    for option in ("Software sob medida", "SaaS adaptável", "Perfil de tráfego/anúncios"):
        assert option in draft.text
    assert "4) Outro" in draft.text


def test_fields_already_collected_are_not_asked_again() -> None:
    collected = {
        LeadField.SERVICE_INTEREST: "CUSTOM_SOFTWARE",
        LeadField.COMPANY_NAME: "Acme",
    }
    draft = responder.draft(conversation(text(1, "ok"), collected=collected))
    assert draft.text.endswith(QUESTIONS[LeadField.CITY])
    assert draft.fields == ()


def test_a_question_left_unanswered_is_asked_again_in_other_words() -> None:
    draft = responder.draft(conversation(text(1, "hmm"), asked=LeadField.COMPANY_NAME))
    assert draft.intent == "other"
    assert draft.text == "Só para eu registrar certinho: qual o nome da sua empresa?"


def test_an_operators_question_is_not_taken_for_the_bots() -> None:
    history = (
        Turn(actor=Actor.LLM, text=QUESTIONS[LeadField.COMPANY_NAME]),
        Turn(actor=Actor.HUMAN, text="Pode me mandar uma foto do cardápio?"),
    )
    draft = responder.draft(
        Conversation(lead_status=LeadStatus.QUALIFYING, history=history, pending=(text(1, "Acme"),))
    )
    assert draft.fields == ()


# --- extraction ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "answer", "value"),
    [
        (LeadField.SERVICE_INTEREST, "1", "CUSTOM_SOFTWARE"),
        (LeadField.SERVICE_INTEREST, "opção 3", "TRAFFIC_PROFILE"),
        (LeadField.SERVICE_INTEREST, "SaaS adaptável", "SAAS_ADAPTABLE"),
        (LeadField.SERVICE_INTEREST, "queremos um aplicativo", "CUSTOM_SOFTWARE"),
        (LeadField.SERVICE_INTEREST, "Outro", "OTHER"),
        (LeadField.COMPANY_NAME, "Acme Ltda", "Acme Ltda"),
        (LeadField.COMPANY_NAME, "é a padaria da esquina", "padaria da esquina"),
        (LeadField.COMPANY_NAME, "Somos a Silva & Filhos, de Recife", "Silva & Filhos"),
        (LeadField.CITY, "Curitiba", "Curitiba"),
        (LeadField.CITY, "sou de sao paulo", "São Paulo"),
        (LeadField.CITY, "Aqui em Palmas", "Palmas"),  # not a known city: the answer is enough
        (LeadField.CITY, "natal/RN", "natal/RN"),
        (LeadField.BUDGET_RANGE, "R$ 30 mil", "R$ 30 mil"),
        (LeadField.BUDGET_RANGE, "30k", "R$ 30 mil"),
        (LeadField.BUDGET_RANGE, "entre 20 e 50 mil", "R$ 20 mil a R$ 50 mil"),
        (LeadField.BUDGET_RANGE, "de 20 a 50k", "R$ 20 mil a R$ 50 mil"),
        (LeadField.BUDGET_RANGE, "até R$ 1,5 milhão", "até R$ 1,5 milhão"),
        (LeadField.BUDGET_RANGE, "uns 15.000 reais", "cerca de R$ 15 mil"),
        (LeadField.BUDGET_RANGE, "5000", "R$ 5 mil"),
        (LeadField.BUDGET_RANGE, "ainda não sei", "a definir"),
        (LeadField.DEADLINE, "  Até o fim do ano, se der  ", "Até o fim do ano, se der"),
        (LeadField.DEADLINE, "o quanto antes", "o quanto antes"),
        (
            LeadField.PAIN_POINTS,
            "Controle de estoque na planilha",
            "Controle de estoque na planilha",
        ),
    ],
)
def test_a_direct_answer_is_read_with_high_confidence(
    field: LeadField, answer: str, value: str
) -> None:
    draft = responder.draft(conversation(text(1, answer), asked=field))
    guess = guessed(draft, field)
    assert (guess.value, guess.evidence_ref) == (value, ref(1))
    assert guess.confidence >= 0.9


@pytest.mark.parametrize(
    ("said", "field", "value"),
    [
        ("somos da Acme em Curitiba", LeadField.COMPANY_NAME, "Acme"),
        ("somos da Acme em Curitiba", LeadField.CITY, "Curitiba"),
        ("Trabalho na Construtora Horizonte e moro em Blumenau", LeadField.CITY, "Blumenau"),
        ("temos um orçamento de uns 30 mil", LeadField.BUDGET_RANGE, "cerca de R$ 30 mil"),
        ("podemos investir R$ 80.000", LeadField.BUDGET_RANGE, "R$ 80 mil"),
        ("precisamos disso para março", LeadField.DEADLINE, "para março"),
        ("queria ter em 3 meses", LeadField.DEADLINE, "em 3 meses"),
        ("Quero um software sob medida", LeadField.SERVICE_INTEREST, "CUSTOM_SOFTWARE"),
        ("preciso de gestão de tráfego", LeadField.SERVICE_INTEREST, "TRAFFIC_PROFILE"),
        (
            "Oi. Nosso problema é o retrabalho no financeiro. Obrigado",
            LeadField.PAIN_POINTS,
            "Nosso problema é o retrabalho no financeiro.",
        ),
    ],
)
def test_a_value_spotted_in_free_text_gets_moderate_confidence(
    said: str, field: LeadField, value: str
) -> None:
    draft = responder.draft(conversation(text(1, said)))
    guess = guessed(draft, field)
    assert (guess.value, guess.evidence_ref) == (value, ref(1))
    assert ACCEPTED <= guess.confidence < 0.9


@pytest.mark.parametrize(
    ("said", "asked", "field"),
    [
        ("talvez uns 30 mil de orçamento", None, LeadField.BUDGET_RANGE),
        ("não sei, uns 20 mil", LeadField.BUDGET_RANGE, LeadField.BUDGET_RANGE),
        ("acho que para março", None, LeadField.DEADLINE),
        ("Talvez em junho", LeadField.DEADLINE, LeadField.DEADLINE),
        ("provavelmente algo sob medida", None, LeadField.SERVICE_INTEREST),
    ],
)
def test_a_hedged_value_stays_below_the_threshold(
    said: str, asked: LeadField | None, field: LeadField
) -> None:
    draft = responder.draft(conversation(text(1, said), asked=asked))
    assert guessed(draft, field).confidence < ACCEPTED
    assert "anotei" not in draft.text


@pytest.mark.parametrize(
    "said",
    [
        "temos 30 mil clientes",  # an amount, but no budget
        "não temos nenhum problema com isso",
        "vocês atendem empresas da Bahia?",
        "obrigado!",
    ],
)
def test_free_text_without_a_value_gives_none(said: str) -> None:
    assert responder.draft(conversation(text(1, said))).fields == ()


@pytest.mark.parametrize(
    ("reply_id", "title", "value"),
    [
        ("CUSTOM_SOFTWARE", "Software sob medida", "CUSTOM_SOFTWARE"),
        ("svc-saas", "Plano", "SAAS_ADAPTABLE"),
        ("opt_3", "Perfil de tráfego/anúncios", "TRAFFIC_PROFILE"),
        ("OTHER", "Outro", "OTHER"),
    ],
)
def test_an_interactive_reply_naming_a_service_is_read_with_confidence(
    reply_id: str, title: str, value: str
) -> None:
    chosen = Pending(ref=ref(1), type=MessageType.INTERACTIVE, text=title, reply_id=reply_id)
    draft = responder.draft(conversation(chosen, asked=LeadField.COMPANY_NAME, collected={}))
    assert draft.intent == "service_interest"
    assert draft.fields == (
        FieldGuess(
            field=LeadField.SERVICE_INTEREST, value=value, confidence=0.95, evidence_ref=ref(1)
        ),
    )


def test_masked_personal_data_never_reaches_a_value_or_the_reply() -> None:
    said = "meu número é [telefone], nosso problema é a demora no atendimento"
    draft = responder.draft(conversation(text(1, said)))
    assert guessed(draft, LeadField.PAIN_POINTS).value == (
        "meu número é, nosso problema é a demora no atendimento"
    )
    assert "[telefone]" not in draft.text
    assert (
        responder.draft(conversation(text(1, "[email]"), asked=LeadField.COMPANY_NAME)).fields == ()
    )


def test_a_value_equal_to_the_collected_one_is_not_proposed_again() -> None:
    draft = responder.draft(
        conversation(text(1, "somos de Curitiba"), collected={LeadField.CITY: "curitiba"})
    )
    assert draft.fields == ()


# --- intents, handoffs and content -----------------------------------------------------


@pytest.mark.parametrize(
    "said",
    [
        "quero falar com humano",
        "Quero falar com um HUMANO!",
        "Humano",
        "tem algum atendente?",
        "ATENDENTE",
        "Atendênte por favor",
        "quero uma pessoa de verdade",
        "Quero falar com alguém",
        "QUERO FALAR COM ALGUEM",
    ],
)
def test_asking_for_a_person_hands_the_conversation_over(said: str) -> None:
    pending = (text(1, said),)
    draft = responder.draft(conversation(*pending, asked=LeadField.COMPANY_NAME))
    assert_well_formed(draft, pending)
    assert draft.intent == "human_request"
    assert draft.handoff is not None
    assert draft.handoff.reason is HandoffReason.USER_REQUESTED
    assert "pessoa da nossa equipe" in draft.text
    assert draft.fields == ()  # not read as the company's name


def test_human_resources_is_not_a_request_for_a_person() -> None:
    draft = responder.draft(conversation(text(1, "Sistema para recursos humanos")))
    assert draft.handoff is None


@pytest.mark.parametrize("said", ["Quanto custa?", "qual o preço de um app", "Qual o valor?"])
def test_a_question_about_price_is_answered_without_a_price(said: str) -> None:
    draft = responder.draft(conversation(text(1, said), asked=LeadField.COMPANY_NAME))
    assert draft.intent == "pricing"
    assert "R$" not in draft.text
    assert "especialista" in draft.text
    assert draft.fields == ()


def test_a_burst_is_answered_once_from_all_of_its_messages() -> None:
    pending = (
        text(1, "Oi"),
        text(2, "Somos da Acme"),
        text(3, "estamos em Curitiba"),
        text(4, "orçamento de uns 30 mil"),
        text(5, "precisamos para março"),
    )
    draft = responder.draft(conversation(*pending, asked=LeadField.COMPANY_NAME))
    assert_well_formed(draft, pending)
    cited = {guess.field: (guess.value, guess.evidence_ref) for guess in draft.fields}
    assert cited == {
        LeadField.COMPANY_NAME: ("Acme", ref(2)),
        LeadField.CITY: ("Curitiba", ref(3)),
        LeadField.BUDGET_RANGE: ("cerca de R$ 30 mil", ref(4)),
        LeadField.DEADLINE: ("para março", ref(5)),
    }
    assert guessed(draft, LeadField.COMPANY_NAME).confidence >= 0.9  # the answer to the question
    assert draft.text == f"Obrigado, anotei! {QUESTIONS[LeadField.PAIN_POINTS]}"


def test_a_burst_that_completes_the_lead_is_qualified() -> None:
    collected = {
        LeadField.SERVICE_INTEREST: "TRAFFIC_PROFILE",
        LeadField.COMPANY_NAME: "Acme",
        LeadField.CITY: "Recife",
        LeadField.BUDGET_RANGE: "R$ 5 mil",
    }
    pending = (text(1, "em 2 semanas"), text(2, "O desafio é atrair clientes novos"))
    draft = responder.draft(conversation(*pending, asked=LeadField.DEADLINE, collected=collected))
    assert draft.intent == "qualified"
    assert draft.handoff is not None
    assert draft.handoff.reason is HandoffReason.QUALIFIED
    assert {guess.evidence_ref for guess in draft.fields} == {ref(1), ref(2)}
    assert "Perfil de tráfego/anúncios" in draft.text


@pytest.mark.parametrize(
    "kind",
    [
        MessageType.IMAGE,
        MessageType.AUDIO,
        MessageType.STICKER,
        MessageType.LOCATION,
        MessageType.REACTION,
        MessageType.CONTACTS,
        MessageType.UNSUPPORTED,
        MessageType.UNKNOWN,
    ],
)
def test_a_message_without_text_gets_a_request_for_text(kind: MessageType) -> None:
    pending = (Pending(ref=ref(1), type=kind), Pending(ref=ref(2), type=kind, text="  "))
    draft = responder.draft(conversation(*pending, asked=LeadField.CITY))
    assert_well_formed(draft, pending)
    assert draft.intent == "unsupported_content"
    assert (draft.fields, draft.handoff) == ((), None)
    assert draft.text == (
        f"Desculpe, por aqui consigo ler apenas mensagens de texto. {QUESTIONS[LeadField.CITY]}"
    )


def test_a_caption_is_read_as_text() -> None:
    photo = Pending(ref=ref(1), type=MessageType.IMAGE, text="Acme")
    draft = responder.draft(conversation(photo, asked=LeadField.COMPANY_NAME))
    assert guessed(draft, LeadField.COMPANY_NAME).value == "Acme"


def test_the_same_conversation_always_gives_the_same_draft() -> None:
    pending = (
        text(1, "somos da Acme em Curitiba, orçamento de uns 30 mil"),
        Pending(ref=ref(2), type=MessageType.STICKER),
        text(3, "talvez para março"),
    )
    drafts = {
        RulesResponder().draft(conversation(*pending, asked=LeadField.CITY)) for _ in range(3)
    }
    assert len(drafts) == 1
    assert responder.name == "rules"


@given(
    bodies=st.lists(st.text(), min_size=1, max_size=3),
    kind=st.sampled_from(MessageType),
    reply_id=st.none() | st.text(max_size=256),
    asked=st.none() | st.sampled_from(LeadField),
)
def test_any_text_gives_a_valid_draft(
    bodies: list[str], kind: MessageType, reply_id: str | None, asked: LeadField | None
) -> None:
    pending = tuple(
        Pending(ref=ref(n), type=kind, text=body, reply_id=reply_id)
        for n, body in enumerate(bodies)
    )
    draft = responder.draft(conversation(*pending, asked=asked))
    assert_well_formed(draft, pending)
    assert draft == responder.draft(conversation(*pending, asked=asked))
