"""The chat page as tests see it: its controls, its bubbles, and the stored truth via the API."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

import httpx
from playwright.sync_api import Locator, Page, Request, expect

from tests.conftest import Server

__all__ = ["ChatPage", "words"]

ENDED = re.compile(r"^(complete|stopped|incomplete|error)$")


def words(count: int) -> str:
    """The text of a ``text=words`` answer of ``count`` tokens."""
    return "".join(f" w{i}" for i in range(1, count + 1))


class ChatPage:
    def __init__(self, page: Page, base: str, server: Server, requests: list[Request]) -> None:
        self.page = page
        self.base = base
        self.server = server
        self.requests = requests

    # -- navigation ---------------------------------------------------------------------------

    def open(self, path: str = "/") -> ChatPage:
        self.page.goto(self.base + path)
        self.page.wait_for_selector("body.ready")
        return self

    def reload(self) -> None:
        self.page.reload()
        self.page.wait_for_selector("body.ready")

    # -- controls -----------------------------------------------------------------------------

    @property
    def input(self) -> Locator:
        return self.page.locator("#composer-input")

    @property
    def send_button(self) -> Locator:
        return self.page.locator("sc-composer .send")

    @property
    def stop_button(self) -> Locator:
        return self.page.locator("sc-composer .stop")

    def send(self, text: str) -> None:
        self.input.fill(text)
        self.input.press("Enter")

    def conversations(self) -> Locator:
        return self.page.locator("sc-sidebar li.conv")

    def conversation_link(self, title: str) -> Locator:
        return self.page.locator("sc-sidebar .conv-open", has_text=title)

    def switch_to(self, title: str) -> str:
        """Click a conversation in the sidebar and wait until its thread is shown."""
        link = self.conversation_link(title)
        cid = str(link.locator("xpath=..").get_attribute("data-id"))
        link.click()
        expect(self.page.locator(f'#thread[data-conversation="{cid}"]')).to_have_count(1)
        return cid

    # -- bubbles ------------------------------------------------------------------------------

    def answers(self) -> Locator:
        return self.page.locator("#thread sc-message.msg-assistant")

    def questions(self) -> Locator:
        return self.page.locator("#thread sc-message.msg-user")

    def answer(self, index: int = -1) -> Locator:
        answers = self.answers()
        return answers.last if index == -1 else answers.nth(index)

    def wait_status(
        self, status: str | re.Pattern[str] = ENDED, index: int = -1, timeout: float = 20_000
    ) -> str:
        answer = self.answer(index)
        expect(answer).to_have_attribute("data-status", status, timeout=timeout)
        return str(answer.get_attribute("data-status"))

    def wait_text(self, at_least: int, index: int = -1, timeout: float = 20_000) -> None:
        """Wait until the answer's markdown source has ``at_least`` characters."""
        self.answer(index).evaluate(
            """(el, n) => new Promise((resolve) => {
                 const check = () => (el.source?.text.length ?? 0) >= n
                   ? resolve() : requestAnimationFrame(check);
                 check();
               })""",
            at_least,
        )

    def source(self, index: int = -1) -> str:
        """The markdown the bubble rendered (exactly what its events carried)."""
        text: str = self.answer(index).evaluate("el => el.source.text")
        return text

    def body_text(self, index: int = -1) -> str:
        return self.answer(index).locator(".msg-body").inner_text()

    def texts(self) -> list[str]:
        """What the thread shows, oldest first: each question's text and each answer's source."""
        shown: list[str] = self.page.locator("#thread sc-message").evaluate_all(
            "els => els.map((el) => el.kind === 'user' ? el.text : el.source?.text ?? '')"
        )
        return shown

    def shown_ids(self) -> list[str | None]:
        """The message id of every bubble, oldest first (None: never stored)."""
        ids: list[str | None] = self.page.locator("#thread sc-message").evaluate_all(
            "els => els.map((el) => el.messageId ?? null)"
        )
        return ids

    @staticmethod
    def message_id(bubble: Locator) -> str:
        return str(bubble.evaluate("el => el.messageId"))

    @staticmethod
    def version(bubble: Locator) -> Locator:
        """The bubble's ``‹ n/m ›`` counter (hidden when the message has one version)."""
        return bubble.locator(".versions .version-count")

    # -- the stored truth ---------------------------------------------------------------------

    def conversation_id(self) -> str:
        match = re.match(r"#/c/(.+)$", self.page.evaluate("location.hash"))
        assert match, "the page shows no stored conversation"
        return unquote(match.group(1))

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.server.url + path, timeout=10, **kwargs)

    def stored(self, conversation_id: str | None = None) -> dict[str, Any]:
        cid = conversation_id or self.conversation_id()
        response = self.api("GET", f"/api/conversations/{cid}")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def stored_answer(self, conversation_id: str | None = None) -> dict[str, Any]:
        messages = self.stored(conversation_id)["messages"]
        answer: dict[str, Any] = messages[-1]
        assert answer["role"] == "assistant"
        return answer

    def requests_to(self, fragment: str) -> list[Request]:
        return [r for r in self.requests if fragment in r.url]

    def bodies_to(self, fragment: str, method: str = "POST") -> list[dict[str, Any]]:
        """The JSON bodies the page sent to URLs containing ``fragment``, in order."""
        sent = [r for r in self.requests_to(fragment) if r.method == method]
        bodies: list[dict[str, Any]] = [r.post_data_json or {} for r in sent]
        return bodies

    def tree(self, conversation_id: str | None = None) -> dict[str, dict[str, Any]]:
        """Every stored message of the conversation (all branches), by id."""
        cid = conversation_id or self.conversation_id()
        response = self.api("GET", f"/api/conversations/{cid}", params={"tree": "true"})
        response.raise_for_status()
        return {m["id"]: m for m in response.json()["messages"]}
