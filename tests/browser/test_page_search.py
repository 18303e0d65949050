"""The sidebar's search (issue 14 item 3) in real Chromium: Ctrl+K, results as one types, the
keyboard, a result opening at its message (on another branch too), escaped snippets, zh-CN on
a 390 px phone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.chat_page import ChatPage
from tests.browser.conftest import PageFactory

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/streamchat-search-shots")


def ask(chat: ChatPage, message: str, path: str = "/api/chat", **body: Any) -> dict[str, Any]:
    """Ask through the API (the page is not involved); the stream's meta."""
    response = chat.api("POST", path, json={"message": message, "model": "gpt-4o-mini", **body})
    assert response.status_code == 200, response.text
    events = [
        json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")
    ]
    assert events[-1].get("finish_reason") == "stop", events[-1]
    meta: dict[str, Any] = events[0]
    return meta


def rename(chat: ChatPage, conversation_id: str, title: str) -> None:
    """A title without the words searched for (a new conversation's title is its question)."""
    response = chat.api("PATCH", f"/api/conversations/{conversation_id}", json={"title": title})
    assert response.status_code == 200, response.text


def shoot(chat: ChatPage, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    chat.page.screenshot(path=str(SHOTS / name))


def test_ctrl_k_typing_and_a_result_opens_at_its_message_on_its_branch(
    new_page: PageFactory,
) -> None:
    chat = new_page()
    first = ask(chat, "Do zebras sleep standing up? [[mock text=echo]]")
    conversation = first["conversation_id"]
    for i in range(5):  # a long thread after the answer searched for
        ask(chat, f"filler {i} [[mock tokens=120]]", conversation_id=conversation)
    # Editing the first question makes a new branch: the zebra answer is no longer shown.
    ask(chat, "Do cats nap? [[mock text=echo]]", path=f"/api/messages/{first['question_id']}/edit")
    hostile = ask(
        chat, "zebras <img src=x onerror=window.__pwned=1> <b>bold</b> [[mock text=echo]]"
    )
    rename(chat, conversation, "Animals")
    rename(chat, hostile["conversation_id"], "Markup")
    chat.open()

    page = chat.page
    box = page.locator("sc-sidebar .search-input")
    expect(box).to_have_attribute("placeholder", "Search (Ctrl+K)")
    chat.input.focus()
    page.keyboard.press("Control+K")
    expect(box).to_be_focused()
    page.keyboard.type("zebras", delay=30)
    options = page.locator("sc-sidebar .search-results li.search-hit")
    expect(options).to_have_count(4)  # two questions, two answers (newest first)
    expect(page.locator("sc-sidebar .conv-list")).to_be_hidden()
    expect(page.locator("sc-sidebar .search-status")).to_have_text("Results: 4")
    # one fetch for the whole word, not one per key
    assert len([r for r in chat.requests_to("/api/search?") if "q=zebras" in r.url]) == 1
    assert [r.url for r in chat.requests_to("/api/search?")][-1].endswith(
        "q=zebras&limit=20&offset=0"
    )
    marks = page.locator("sc-sidebar .search-results mark").all_inner_texts()
    assert marks == ["zebras", "zebras", "zebras", "zebras"]
    # The hostile text is shown as text: no element came from it.
    expect(
        page.locator("sc-sidebar .search-results img, sc-sidebar .search-results b")
    ).to_have_count(0)
    hostile_hit = options.and_(page.locator(f'[data-message="{hostile["message_id"]}"]'))
    expect(hostile_hit.locator(".search-snippet")).to_contain_text("<img src=x onerror=")
    assert page.evaluate("window.__pwned") is None

    ids = options.evaluate_all("els => els.map((el) => el.dataset.message)")
    target = ids.index(first["message_id"])  # the zebra answer, on the old branch
    for _ in range(target):
        page.keyboard.press("ArrowDown")
    expect(options.nth(target)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", f"search-hit-{target}")
    shoot(chat, "search-desktop.png")
    page.keyboard.press("Enter")

    expect(page.locator(f'#thread[data-conversation="{conversation}"]')).to_have_count(1)
    bubble = page.locator("#thread sc-message.search-found")
    expect(bubble).to_have_count(1)
    assert chat.message_id(bubble) == first["message_id"]
    assert chat.texts()[0] == "Do zebras sleep standing up? [[mock text=echo]]"  # its branch
    expect(bubble).to_be_in_viewport(ratio=1)
    expect(bubble).to_be_focused()
    assert chat.conversation_id() == conversation
    # The server shows that branch now (its path continued through the newest child).
    assert first["message_id"] in [m["id"] for m in chat.stored(conversation)["messages"]]
    shoot(chat, "search-opened.png")
    expect(bubble).not_to_have_class("search-found", timeout=5000)  # briefly

    # Escape clears the search and brings the list back.
    box.focus()
    page.keyboard.press("Escape")
    expect(box).to_have_value("")
    expect(page.locator("sc-sidebar .conv-list")).to_be_visible()
    expect(options).to_have_count(0)
    page.keyboard.type("nothing-like-this")
    expect(page.locator("sc-sidebar .search-status")).to_have_text(
        "Nothing found for “nothing-like-this”."
    )


def test_chinese_on_a_phone(new_page: PageFactory) -> None:
    chat = new_page(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        locale="zh-CN",
    )
    palace = ask(chat, "我们明天去北京的故宫参观，然后吃烤鸭。 [[mock text=echo]]")
    ask(chat, "上海的天气怎么样？ [[mock text=echo]]")
    rename(chat, palace["conversation_id"], "旅行")
    chat.open()
    page = chat.page
    menu = page.locator("#menu")
    box = page.locator("sc-sidebar .search-input")
    # Ctrl+K from a keyboard opens the drawer and focuses the box.
    page.keyboard.press("Control+K")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(box).to_be_focused()
    expect(box).to_have_attribute("placeholder", "搜索（Ctrl+K）")
    box.fill("故宫")
    options = page.locator("sc-sidebar .search-results li.search-hit")
    expect(options).to_have_count(2)  # the answer (newer), the question
    expect(page.locator("sc-sidebar .search-status")).to_have_text("结果：2 条")
    expect(options.nth(0).locator(".search-role")).to_have_text("回答：")
    expect(options.nth(1).locator(".search-role")).to_have_text("你：")
    assert page.locator("sc-sidebar .search-results mark").all_inner_texts() == ["故宫"] * 2
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    size = options.nth(0).bounding_box()
    assert size is not None and size["height"] >= 44 and size["x"] + size["width"] <= 390
    shoot(chat, "search-phone-zh.png")
    options.nth(0).tap()
    expect(menu).to_have_attribute("aria-expanded", "false")  # the drawer closed
    bubble = page.locator("#thread sc-message.search-found")
    expect(bubble).to_have_count(1)
    assert chat.message_id(bubble) == palace["message_id"]
    expect(bubble).to_be_in_viewport(ratio=1)
    assert chat.conversation_id() == palace["conversation_id"]


def test_cmd_k_on_a_mac(new_page: PageFactory) -> None:
    chat = new_page()
    chat.page.add_init_script(
        "Object.defineProperty(navigator, 'platform', {get: () => 'MacIntel'})"
    )
    chat.open()
    box = chat.page.locator("sc-sidebar .search-input")
    expect(box).to_have_attribute("placeholder", "Search (⌘K)")
    chat.input.focus()
    chat.page.keyboard.press("Meta+K")
    expect(box).to_be_focused()


CONTRAST = """(el) => {
  const rgb = (c) => c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
  const lum = (c) => {
    const [r, g, b] = rgb(c).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const style = getComputedStyle(el);
  const [a, b] = [lum(style.color), lum(style.backgroundColor)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_marks_are_readable_in_both_themes(new_page: PageFactory, scheme: str) -> None:
    chat = new_page(color_scheme=scheme)
    conversation = ask(chat, "the word quokka [[mock text=echo]]")["conversation_id"]
    rename(chat, conversation, "Marsupials")
    chat.open()
    chat.page.locator("sc-sidebar .search-input").fill("quokka")
    mark = chat.page.locator("sc-sidebar .search-results mark").first
    expect(mark).to_have_text("quokka")
    assert mark.evaluate(CONTRAST) >= 4.5
    shoot(chat, f"search-{scheme}.png")


def test_more_results(new_page: PageFactory) -> None:
    chat = new_page()
    for i in range(11):  # 22 messages (and the titles, when they are the questions) hold "kiwi"
        ask(chat, f"kiwi number {i} [[mock text=echo]]")
    total = len(chat.api("GET", "/api/search", params={"q": "kiwi", "limit": 50}).json()["results"])
    assert 22 <= total <= 33
    chat.open()
    page = chat.page
    page.keyboard.press("Control+K")
    page.keyboard.type("kiwi")
    options = page.locator("sc-sidebar .search-results li.search-hit")
    status = page.locator("sc-sidebar .search-status")
    more = page.locator("sc-sidebar .search-more")
    expect(options).to_have_count(20)
    expect(status).to_have_text("Results: 20+")
    page.keyboard.press("ArrowUp")  # from the first to the last
    expect(options.nth(19)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Tab")
    expect(more).to_be_focused()
    page.keyboard.press("Enter")
    expect(options).to_have_count(total)
    expect(status).to_have_text(f"Results: {total}")
    expect(more).to_be_hidden()
    expect(options.nth(19)).to_have_attribute("aria-selected", "true")  # kept
    ids = options.evaluate_all(
        "els => els.map((el) => el.dataset.message ?? el.dataset.conversation)"
    )
    assert len(set(ids)) == total  # no result twice
