"""Signing in on the page when the server requires accounts: the sign-in dialog takes an API
token and POSTs it to /api/session, a wrong token says so, the page then loads as alice (the
token kept only in the HttpOnly cookie), a reload stays signed in, signing out asks again, and
a session that stops working mid-use asks again too. Without accounts there is no dialog."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, expect

from tests.browser.chat_page import ChatPage
from tests.browser.conftest import PageFactory
from tests.conftest import Server, ServerFactory
from tests.security.accounts import create_users

pytestmark = pytest.mark.browser

WRONG = "That token is not valid. Check it, or ask for a new one."


@pytest.fixture
def accounts(make_server: ServerFactory, tmp_path: Path) -> tuple[Server, dict[str, str]]:
    """A server that requires accounts, with the users alice and bob."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'accounts.db'}"
    tokens = create_users(database, "alice", "bob")
    server = make_server(auth="on", database_url=database, demo_token_rate=200)
    return server, tokens


def dialog(chat: ChatPage) -> Locator:
    return chat.page.locator("sc-sign-in dialog")


def sign_in(chat: ChatPage, token: str) -> None:
    chat.page.get_by_label("API token").fill(token)
    chat.page.get_by_role("button", name="Sign in").click()


def conversations_of(server: Server, token: str) -> list[dict[str, object]]:
    response = httpx.get(
        f"{server.url}/api/conversations",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    response.raise_for_status()
    listing: list[dict[str, object]] = response.json()["conversations"]
    return listing


def test_sign_in_with_a_token_then_the_page_loads(
    new_page: PageFactory, accounts: tuple[Server, dict[str, str]]
) -> None:
    server, tokens = accounts
    chat = new_page(base=server.url)
    chat.page.goto(server.url + "/")
    expect(dialog(chat)).to_be_visible()
    expect(chat.page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(chat.page.locator("body")).not_to_have_class("ready")
    expect(chat.page.get_by_label("API token")).to_be_focused()
    assert chat.requests_to("/api/conversations") == []  # nothing asked before signing in

    sign_in(chat, "sct_not-a-token")
    error = chat.page.locator(".sign-in-error")
    expect(error).to_have_text(WRONG)
    expect(dialog(chat)).to_be_visible()
    chat.page.keyboard.press("Escape")  # the dialog cannot be dismissed without signing in
    expect(dialog(chat)).to_be_visible()
    assert chat.page.context.cookies() == []

    sign_in(chat, tokens["alice"])
    chat.page.wait_for_selector("body.ready")
    expect(dialog(chat)).to_be_hidden()
    expect(chat.page.locator("#account-name")).to_have_text("Signed in as alice")
    cookie = {c["name"]: c for c in chat.page.context.cookies()}["streamchat_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert chat.page.evaluate("document.cookie") == ""
    assert tokens["alice"] not in chat.page.evaluate(
        "JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})"
    )

    chat.send("hello as alice [[mock tokens=3]]")
    chat.wait_status("complete")
    assert chat.source() == " w1 w2 w3"
    cid = chat.conversation_id()
    assert [c["id"] for c in conversations_of(server, tokens["alice"])] == [cid]
    assert conversations_of(server, tokens["bob"]) == []

    chat.reload()  # the cookie keeps the page signed in
    expect(dialog(chat)).to_be_hidden()
    expect(chat.conversations()).to_have_count(1)


def test_sign_out_asks_for_a_token_again(
    new_page: PageFactory, accounts: tuple[Server, dict[str, str]]
) -> None:
    server, tokens = accounts
    chat = new_page(base=server.url)
    chat.page.goto(server.url + "/")
    sign_in(chat, tokens["bob"])
    chat.page.wait_for_selector("body.ready")
    expect(chat.page.locator("#account-name")).to_have_text("Signed in as bob")

    chat.page.get_by_role("button", name="Sign out").click()
    expect(dialog(chat)).to_be_visible()
    assert chat.page.context.cookies() == []
    status = chat.page.evaluate("fetch('/api/conversations').then((r) => r.status)")
    assert status == 401
    expect(chat.page.locator("#account")).to_be_hidden()


def test_a_session_that_stops_working_asks_again(
    new_page: PageFactory, accounts: tuple[Server, dict[str, str]]
) -> None:
    server, tokens = accounts
    chat = new_page(base=server.url)
    chat.page.goto(server.url + "/")
    sign_in(chat, tokens["alice"])
    chat.page.wait_for_selector("body.ready")
    chat.page.context.clear_cookies()  # as when the cookie expires or the token is revoked

    chat.send("still signed in? [[mock tokens=2]]")
    expect(dialog(chat)).to_be_visible()
    with chat.page.expect_navigation():  # signed in again, the page reloads
        sign_in(chat, tokens["alice"])
    chat.page.wait_for_selector("body.ready")
    expect(dialog(chat)).to_be_hidden()
    expect(chat.page.locator("#account-name")).to_have_text("Signed in as alice")
    chat.send("now [[mock tokens=2]]")
    chat.wait_status("complete")
    assert chat.source() == " w1 w2"


def test_no_sign_in_without_accounts(chat: ChatPage) -> None:
    expect(dialog(chat)).to_be_hidden()
    expect(chat.page.locator("#account")).to_be_hidden()
    chat.send("hi [[mock tokens=2]]")
    chat.wait_status("complete")
