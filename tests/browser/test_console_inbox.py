"""The inbox's rows, filters, sort, search and header counts in a real browser, on a
server of its own (so the sessions here are only this module's)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import Served
from tests.browser.test_console import LIVE_S, sign_in


def row_of(page: Page, name: str) -> Locator:
    return page.locator("tr.session").filter(has_text=name)


def names_in_order(page: Page) -> list[str]:
    return page.locator("tr.session th a").all_inner_texts()


def test_a_row_shows_the_last_message_the_wait_the_window_and_the_unread_count(
    page: Page, served: Served
) -> None:
    sign_in(page, served, served.add_operator("ana"))
    page.wait_for_timeout(1500)  # the stream is open and past its first read

    served.customer_writes("+5511999990401", "Preciso de ajuda", name="Renata Prévia")

    row = row_of(page, "Renata Prévia")
    expect(row.locator(".preview")).to_contain_text("Bot:", timeout=LIVE_S)  # it answered
    expect(row.locator(".badge.unread")).to_have_text("1 unread")
    expect(row.locator(".badge.waiting")).to_have_text(re.compile(r"waiting (under a|1) min"))
    expect(row.locator(".window")).to_have_text("window 23 h left")


def test_the_filter_mine_shows_only_the_conversation_taken_over(page: Page, served: Served) -> None:
    sign_in(page, served, served.add_operator("bruno"))
    served.customer_writes("+5511999990402", "Oi", name="Carla Minha")
    served.customer_writes("+5511999990403", "Oi", name="Diego Outro")
    page.goto(f"{served.base_url}/console?sort=latest")
    expect(row_of(page, "Diego Outro")).to_have_count(1, timeout=LIVE_S)
    row_of(page, "Carla Minha").get_by_role("link").click()
    page.get_by_role("button", name="Take over").click()
    expect(page.locator("#control-mode")).to_contain_text("Human: bruno", timeout=LIVE_S)
    page.get_by_role("link", name="Inbox", exact=True).click()

    page.get_by_label("Held by").select_option("mine")

    expect(page).to_have_url(re.compile(r"/console\?assignee=mine$"))
    expect(page.locator("tr.session")).to_have_count(1)
    expect(page.locator("tr.session")).to_contain_text("Carla Minha")
    served.customer_writes("+5511999990403", "Diego de novo", name="Diego Outro")
    served.customer_writes("+5511999990402", "Carla de novo", name="Carla Minha")
    expect(page.locator("tr.session .preview")).to_have_text(  # live, in this view only
        "Customer: Carla de novo", timeout=LIVE_S
    )
    expect(page.locator("tr.session")).to_have_count(1)
    page.reload()  # the pushed URL is the same view
    expect(page.locator("tr.session")).to_have_count(1)
    expect(page.get_by_label("Held by")).to_have_value("mine")


def test_the_longest_waiting_customer_comes_first_by_default(
    page: Page, served: Served, screenshot: Callable[[Page, str], Path]
) -> None:
    sign_in(page, served, served.add_operator("carol"))
    served.customer_writes("+5511999990404", "Escrevi primeiro", name="Elisa Antes")
    served.customer_writes("+5511999990405", "Escrevi depois", name="Fábio Depois")
    page.goto(f"{served.base_url}/console?sort=latest")
    for name in ("Elisa Antes", "Fábio Depois"):  # both answered by the bot
        expect(row_of(page, name).locator(".preview")).to_contain_text("Bot:", timeout=LIVE_S)
    latest = names_in_order(page)
    assert latest.index("Fábio Depois") < latest.index("Elisa Antes")

    page.goto(f"{served.base_url}/console")

    waiting = names_in_order(page)
    assert waiting.index("Elisa Antes") < waiting.index("Fábio Depois")
    expect(page.get_by_label("Sort")).to_have_value("waiting")
    screenshot(page, "console-inbox.png")


def test_a_search_by_the_customers_name_finds_them(page: Page, served: Served) -> None:
    sign_in(page, served, served.add_operator("davi"))
    served.customer_writes("+5511999990406", "Olá", name="Xuxa Buscada")

    page.get_by_label("Search", exact=True).fill("xuxa")
    page.get_by_label("Search", exact=True).press("Enter")

    expect(page).to_have_url(re.compile(r"\?q=xuxa$"))
    rows = page.locator("tr.session")
    expect(rows.filter(has_text="Xuxa Buscada")).to_have_count(1, timeout=LIVE_S)
    expect(rows).to_have_count(1)


def test_the_header_count_follows_a_lead_marked_ready_for_human_live(
    page: Page, served: Served
) -> None:
    sign_in(page, served, served.add_operator("eli"))
    served.customer_writes("+5511999990407", "Oi", name="Gil Pronto")
    page.goto(f"{served.base_url}/console?sort=latest")
    row_of(page, "Gil Pronto").get_by_role("link").click(timeout=LIVE_S)
    count = page.locator("#waiting-count")
    before = int(count.inner_text())

    page.get_by_role("button", name="Mark ready for human").click()

    expect(page.locator("#command-status")).to_contain_text("applied", timeout=LIVE_S)
    expect(count).to_have_text(str(before + 1), timeout=LIVE_S)
    expect(page).to_have_title(re.compile(rf"^\({before + 1} waiting\) "))
