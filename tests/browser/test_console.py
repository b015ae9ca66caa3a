"""The operator console in a real browser (headless chromium) against a real
`switchboard serve`: signing in, the cookie, CSRF, live updates, the conversation,
signing out and revocation."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, Response, expect
from playwright.sync_api import Error as PlaywrightError

from ingress.console.sessions import COOKIE
from ingress.live import REVALIDATE_S
from tests.browser.conftest import Served

Screenshot = Callable[[Page, str], Path]
LIVE_S = 15_000
"""Milliseconds a live change may take to show (the stream settles changes for 1 s)."""


def sign_in(page: Page, served: Served, token: str) -> None:
    page.goto(f"{served.base_url}/")
    expect(page).to_have_url(re.compile(r"/console/sign-in$"))
    page.get_by_label("Operator token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/console$"))
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()


def test_sign_in_gives_a_strict_http_only_session_cookie(
    page: Page, context: BrowserContext, served: Served
) -> None:
    sign_in(page, served, served.add_operator("ana"))

    (cookie,) = [c for c in context.cookies() if c["name"] == COOKIE]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["secure"] is False  # plain http on loopback; https sets it
    assert cookie["path"] == "/"
    assert page.evaluate("document.cookie").find(COOKIE + "=") == -1
    expect(page.get_by_text("Signed in as ana")).to_be_visible()


def test_a_new_conversation_appears_live_and_its_messages_show(
    page: Page, served: Served, screenshot: Screenshot
) -> None:
    sign_in(page, served, served.add_operator("bia"))
    page.goto(f"{served.base_url}/console?sort=latest")
    rows = page.locator("tr.session")
    before = rows.count()
    page.wait_for_function("document.querySelector('[sse-connect]') !== null")
    page.wait_for_timeout(1500)  # the stream is open and past its first read

    served.customer_writes("+5511999990101", "Olá, quero um orçamento de software")

    expect(rows).to_have_count(before + 1, timeout=LIVE_S)
    rows.first.get_by_role("link").click()
    log = page.locator("#log")
    expect(log.locator(".message.in .body")).to_contain_text("quero um orçamento")
    expect(log.locator(".message.in .who").first).to_have_text("Customer")
    expect(log.locator(".message.out").first).to_be_visible(timeout=LIVE_S)  # the bot's reply
    expect(page.locator("#control-mode")).to_contain_text("Bot")
    screenshot(page, "console-conversation.png")


def test_a_state_change_without_the_csrf_token_is_refused(page: Page, served: Served) -> None:
    sign_in(page, served, served.add_operator("caio"))

    refused = page.evaluate(
        """() => fetch('/console/sign-out', {method: 'POST', body: 'x=1',
             headers: {'content-type': 'application/x-www-form-urlencoded'}})
             .then(r => r.status)"""
    )

    assert refused == 403
    page.reload()
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()  # still signed in


def test_sign_out_ends_access(page: Page, served: Served) -> None:
    sign_in(page, served, served.add_operator("dora"))

    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(re.compile(r"/console/sign-in$"))
    page.goto(f"{served.base_url}/console")
    expect(page).to_have_url(re.compile(r"/console/sign-in$"))


def test_a_revoked_operator_is_sent_to_sign_in_by_the_open_page(page: Page, served: Served) -> None:
    sign_in(page, served, served.add_operator("eva"))
    page.wait_for_timeout(1000)

    served.cli("operators", "revoke", "eva")

    expect(page).to_have_url(
        re.compile(r"/console/sign-in$"), timeout=int((REVALIDATE_S * 2 + 8) * 1000)
    )
    page.goto(f"{served.base_url}/console")
    expect(page).to_have_url(re.compile(r"/console/sign-in$"))


def test_the_token_never_appears_in_a_served_page_or_storage(page: Page, served: Served) -> None:
    token = served.add_operator("fabi")
    bodies = _collect(page)
    sign_in(page, served, token)
    served.customer_writes("+5511999990102", "Oi")
    page.locator("tr.session a").first.click(timeout=LIVE_S)
    page.wait_for_load_state("networkidle")

    assert bodies
    assert not [body for body in bodies if token in body]
    assert token not in page.url
    stored = page.evaluate(
        "JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})"
    )
    assert token not in stored


def test_the_pages_fit_a_phone_screen(browser: Browser, served: Served) -> None:
    phone = browser.new_context(viewport={"width": 375, "height": 740})
    page = phone.new_page()
    served.customer_writes("+5511999990103", "Olá")
    sign_in(page, served, served.add_operator("gabi"))
    page.locator("tr.session a").first.click(timeout=LIVE_S)
    expect(page.locator("#log .message").first).to_be_visible()

    for url in (f"{served.base_url}/console", page.url):
        page.goto(url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, url
    phone.close()


def open_conversation(page: Page, served: Served, phone: str, text: str) -> None:
    """A new customer (`phone` unused so far) writes; open their conversation once the
    inbox shows it, on top of the latest."""
    page.goto(f"{served.base_url}/console?sort=latest")
    rows = page.locator("tr.session")
    before = rows.count()
    page.wait_for_timeout(1500)  # the stream is open and past its first read
    served.customer_writes(phone, text)
    expect(rows).to_have_count(before + 1, timeout=LIVE_S)
    rows.first.get_by_role("link").click()
    expect(page.locator("#log")).to_contain_text(text, timeout=LIVE_S)


def test_take_over_note_and_stale_release_through_the_command_intake(
    page: Page, browser: Browser, served: Served
) -> None:
    sign_in(page, served, served.add_operator("hugo"))
    open_conversation(page, served, "+5511999990104", "Quero falar com alguém")
    status = page.locator("#command-status")

    page.get_by_role("button", name="Take over").click()

    expect(status).to_contain_text("takeover: applied", timeout=LIVE_S)
    expect(page.locator("#control-mode")).to_contain_text("Human: hugo", timeout=LIVE_S)
    expect(page.get_by_label("Message to the customer, as hugo")).to_be_visible()

    page.get_by_label("Internal note (never sent to the customer)").fill("ligar amanhã")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator("#log .note")).to_contain_text("ligar amanhã", timeout=LIVE_S)

    other = browser.new_context()
    watcher = other.new_page()
    sign_in(watcher, served, served.add_operator("iris"))
    watcher.goto(page.url)
    expect(watcher.locator(".held")).to_contain_text("Held by hugo")
    expect(watcher.get_by_text("Only the operator holding the takeover may write.")).to_be_visible()
    other.close()

    page.evaluate(
        """() => document.querySelectorAll('input[name=expected_control_version]')
             .forEach(input => { input.value = '0'; })"""
    )
    page.get_by_role("button", name="Release to bot").click()
    expect(status).to_contain_text("rejected", timeout=LIVE_S)
    expect(status).to_contain_text("changed since you looked")
    expect(page.locator("#control-mode")).to_contain_text("Human: hugo")


AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"


def serious_violations(page: Page) -> list[str]:
    """What axe-core (vendored, for tests only) finds of impact serious or critical."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """() => axe.run(document).then(result => result.violations
             .filter(v => v.impact === 'serious' || v.impact === 'critical')
             .map(v => v.id + ': ' + v.help + ' ' + v.nodes.map(n => n.target).join(' ')))"""
    )
    return list(found)


def test_the_inbox_and_a_conversation_have_no_serious_accessibility_violations(
    browser: Browser, served: Served
) -> None:
    checking = browser.new_context(bypass_csp=True)  # axe is injected as a script
    page = checking.new_page()
    sign_in(page, served, served.add_operator("joao"))
    open_conversation(page, served, "+5511999990105", "Bom dia")
    assert serious_violations(page) == []

    page.goto(f"{served.base_url}/console")
    expect(page.locator("tr.session").first).to_be_visible()
    assert serious_violations(page) == []
    checking.close()


def test_an_admin_pauses_every_bot_reply_and_the_banner_shows_everywhere(
    page: Page, served: Served
) -> None:
    page.on("dialog", lambda dialog: dialog.accept())
    served.customer_writes("+5511999990106", "Olá")
    sign_in(page, served, served.add_operator("kim", role="admin"))
    banner = page.get_by_role("alert").filter(has_text="Bot replies are paused everywhere")

    page.get_by_label("Why pause").fill("incident 42")
    page.get_by_role("button", name="Pause all").click()

    expect(banner).to_contain_text("By kim", timeout=LIVE_S)
    expect(banner).to_contain_text("incident 42")
    page.locator("tr.session a").first.click(timeout=LIVE_S)
    expect(page.locator("#log")).to_be_visible()
    expect(banner).to_be_visible()
    expect(page.get_by_role("button", name="Resume all")).to_be_visible()

    page.get_by_label("Why resume").fill("incident over")
    page.get_by_role("button", name="Resume all").click()
    expect(banner).to_have_count(0, timeout=LIVE_S)
    expect(page.get_by_role("button", name="Pause all")).to_be_visible()


def test_an_operator_gets_no_kill_switch(page: Page, served: Served) -> None:
    sign_in(page, served, served.add_operator("lia"))

    expect(page.get_by_role("button", name="Pause all")).to_have_count(0)


def test_the_whole_operator_flow_and_the_number_appears_nowhere(
    page: Page, context: BrowserContext, served: Served
) -> None:
    phone = "+5511999990177"
    served_text = _collect(page)
    sign_in(page, served, served.add_operator("nina"))
    session_cookie = next(c["value"] for c in context.cookies() if c["name"] == COOKIE)
    log = page.locator("#log")
    bot = log.locator(".message.actor-llm")

    open_conversation(page, served, phone, "Olá, sou cliente novo")
    events, stop = _listen(served, session_cookie, page.url.rsplit("/", 1)[-1])
    expect(bot).to_have_count(1, timeout=LIVE_S)
    page.get_by_role("button", name="Take over").click()
    expect(page.locator("#control-mode")).to_contain_text("Human: nina", timeout=LIVE_S)

    served.customer_writes(phone, "Ainda aí?")
    expect(log).to_contain_text("Ainda aí?", timeout=LIVE_S)
    page.wait_for_timeout(2000)  # a bot reply would have been drafted by now
    expect(bot).to_have_count(1)

    page.get_by_label("Message to the customer, as nina").fill("Sim, posso ajudar")
    page.get_by_role("button", name="Send").click()
    human = log.locator(".message.actor-human")
    expect(human).to_contain_text("Sim, posso ajudar", timeout=LIVE_S)
    expect(human.locator(".who")).to_have_text("Operator nina")

    page.get_by_role("button", name="Release to bot").click()
    expect(page.locator("#control-mode")).to_contain_text("Bot", timeout=LIVE_S)
    served.customer_writes(phone, "Quero um orçamento")
    expect(bot).to_have_count(2, timeout=LIVE_S)

    stop()
    assert "event: message" in events  # we listened where it flows
    for digits in (phone, phone.removeprefix("+"), phone[3:]):
        assert not [text for text in served_text if digits in text]
        assert not [line for line in events if digits in line]


def _collect(page: Page) -> list[str]:
    """Every text body the page is served from now on."""
    bodies: list[str] = []

    def keep(response: Response) -> None:
        kind = response.headers.get("content-type", "")
        if kind.startswith(("text/html", "application/json", "text/plain")):
            with suppress(PlaywrightError):  # the page moved on before the body was read
                bodies.append(response.text())

    page.on("response", keep)
    return bodies


def _listen(
    served: Served, session_cookie: str, session_id: str
) -> tuple[list[str], Callable[[], None]]:
    """Every line of the console's stream (the sessions, and this session's
    messages), as a browser signed in with `session_cookie` receives it, until the
    returned stop."""
    lines: list[str] = []
    stopped = threading.Event()

    def read() -> None:
        cookies = {COOKIE: session_cookie}
        with httpx.Client(base_url=served.base_url, cookies=cookies, timeout=60) as http:
            stream = http.stream("GET", "/console/stream", params={"session_id": session_id})
            with stream as response:
                for line in response.iter_lines():
                    lines.append(line)
                    if stopped.is_set():
                        return

    thread = threading.Thread(target=read, daemon=True)
    thread.start()

    def stop() -> None:
        stopped.set()
        thread.join(20)

    return lines, stop


def test_keyboard_composer_and_a_draft_that_survives_switching(page: Page, served: Served) -> None:
    sign_in(page, served, served.add_operator("otto"))
    page.goto(f"{served.base_url}/console?sort=latest")
    rows = page.locator("tr.session")
    before = rows.count()
    page.wait_for_timeout(1500)  # the stream is open and past its first read
    served.customer_writes("+5511999990108", "Tem alguém?")
    expect(rows).to_have_count(before + 1, timeout=LIVE_S)
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page.locator("#log")).to_contain_text("Tem alguém?", timeout=LIVE_S)
    page.keyboard.press("t")
    composer = page.get_by_label("Message to the customer, as otto")
    expect(composer).to_be_visible(timeout=LIVE_S)

    page.keyboard.press("c")
    page.keyboard.type("linha 1")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("linha 2")
    conversation = page.url
    page.goto(f"{served.base_url}/console")
    page.goto(conversation)
    expect(composer).to_have_value("linha 1\nlinha 2")

    composer.press("Enter")
    human = page.locator("#log .message.actor-human")
    expect(human).to_contain_text("linha 1", timeout=LIVE_S)
    expect(composer).to_have_value("")


def test_a_refused_form_says_why_on_the_page(page: Page, served: Served) -> None:
    sign_in(page, served, served.add_operator("pia"))
    open_conversation(page, served, "+5511999990109", "Oi")
    page.locator("summary", has_text="Close…").click()

    page.get_by_label("Reason", exact=True).fill("   ")  # only spaces: no reason
    page.get_by_role("button", name="Close session").click()

    expect(page.locator("#command-status")).to_contain_text("not sent", timeout=LIVE_S)


def test_the_dashboard_draws_its_charts_and_lists_dead_letters(
    browser: Browser, served: Served, screenshot: Screenshot
) -> None:
    checking = browser.new_context(bypass_csp=True, viewport={"width": 1200, "height": 900})
    page = checking.new_page()
    served.customer_writes("+5511999990110", "Olá")
    sign_in(page, served, served.add_operator("quim"))

    page.get_by_role("link", name="Dashboard").click()

    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator("[data-chart=first-response] canvas")).to_have_count(1, timeout=LIVE_S)
    expect(page.get_by_role("heading", name="Dead letters")).to_be_visible()
    screenshot(page, "console-dashboard.png")
    assert serious_violations(page) == []
    checking.close()


def test_an_admin_reveals_a_number_once_and_it_is_hidden_again(page: Page, served: Served) -> None:
    phone = "+5511999990311"
    page.clock.install()
    sign_in(page, served, served.add_operator("ruth", role="admin"))
    open_conversation(page, served, phone, "Pode me ligar?")
    assert phone not in page.content()

    page.get_by_label("Why you need the phone number (recorded)").fill("customer asked a call")
    page.get_by_role("button", name="Reveal phone number").click()

    revealed = page.locator("#revealed")
    expect(revealed).to_contain_text(phone, timeout=LIVE_S)
    expect(revealed.locator("[data-hide-after]:not(.htmx-added)")).to_have_count(1)  # settled
    page.clock.fast_forward(31_000)
    expect(revealed).not_to_contain_text(phone)
    assert phone not in page.content()


def test_forgetting_a_contact_needs_the_typed_word_and_close_records_the_outcome(
    page: Page, served: Served
) -> None:
    sign_in(page, served, served.add_operator("saul", role="admin"))
    open_conversation(page, served, "+5511999990312", "Pode apagar meus dados?")
    status = page.locator("#command-status")

    page.locator("summary", has_text="Forget this contact…").click()
    page.locator("#forget-reason").fill("asked to be forgotten")
    page.locator("#forget-confirm").fill("forget")
    page.get_by_role("button", name="Forget contact").click()
    expect(status).to_contain_text("type FORGET to confirm", timeout=LIVE_S)

    page.locator("summary", has_text="Close…").click()
    page.get_by_label("Outcome").select_option("NOT_INTERESTED")
    page.locator("#close-reason").fill("wants nothing")
    page.get_by_role("button", name="Close session").click()
    expect(status).to_contain_text("close: applied", timeout=LIVE_S)
    expect(page.locator("#panel")).to_contain_text("not interested", timeout=LIVE_S)


def test_an_operator_gets_no_admin_controls_and_the_server_refuses_them(
    page: Page, served: Served
) -> None:
    sign_in(page, served, served.add_operator("tito"))
    open_conversation(page, served, "+5511999990313", "Oi")

    expect(page.get_by_role("button", name="Reveal phone number")).to_have_count(0)
    lead_id = page.evaluate("location.pathname")  # any id: the role is checked first
    refused = page.evaluate(
        """(csrf) => fetch('/console/leads/x/reveal-phone', {method: 'POST',
             body: 'reason=curious', headers: {'content-type':
             'application/x-www-form-urlencoded', 'X-CSRF-Token': csrf}}).then(r => r.status)""",
        page.locator("input[name=csrf_token]").first.input_value(),
    )
    assert lead_id
    assert refused == 403
