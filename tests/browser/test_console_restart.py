"""The console's live page across a restart of the server: its stream comes back by
itself (htmx-ext-sse) and nothing that changed meanwhile is missing."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.browser.conftest import Served
from tests.browser.test_console import LIVE_S, sign_in


def test_the_inbox_catches_up_after_the_server_restarts(browser: Browser, served: Served) -> None:
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, served, served.add_operator("rui"))
    rows = page.locator("tr.session")
    page.wait_for_timeout(1500)  # the stream is open and past its first read
    served.customer_writes("+5511999990201", "Olá")
    expect(rows).to_have_count(1, timeout=LIVE_S)

    page.route("**/console/stream*", lambda route: route.abort())  # no way back yet
    served.stop()
    served.start()
    served.customer_writes("+5511999990202", "Cheguei enquanto reiniciava")
    page.wait_for_timeout(2000)
    expect(rows).to_have_count(1)  # the change happened while the page was cut off
    page.unroute("**/console/stream*")

    expect(rows).to_have_count(2, timeout=LIVE_S * 3)  # reconnect backs off up to seconds
    expect(page.get_by_role("heading", name="Inbox")).to_be_visible()  # never left the page
    context.close()
