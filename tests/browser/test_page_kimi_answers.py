"""Issue 13 in the page, the answers (Chromium, streamchat, the moonshot mock): the web-search
switch and the tool chips in the bubble (running, then done; after a reload while the server
keeps the events), Continue on an answer cut at its length (into the same bubble), the thinking
switch, the Simplified Chinese text, a 390 px phone, contrast in both themes, and screenshots of
the look (light and dark, en and zh-CN) under /tmp/streamchat-kimi-shots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.chat_page import ChatPage, words
from tests.browser.conftest import PageFactory
from tests.browser.test_page_details import contrast
from tests.browser.test_page_kimi import (
    TEXT_ONLY,
    THINKING,
    VISION,
    chat_bodies,
    choose,
    kimi_mock,
    put_files,
    server,
    wait_uploaded,
)
from tests.files import samples
from tests.harness import MockUpstream

__all__ = ["kimi_mock", "server"]  # the fixtures, shared with test_page_kimi.py

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/streamchat-kimi-shots")
CHIPS = "#thread sc-message.msg-assistant .msg-tools .tool-chip"


def record_chips(chat: ChatPage) -> None:
    """Keep every state a tool chip was drawn in, in the page (window.__chips)."""
    chat.page.evaluate(
        """() => {
             window.__chips = [];
             new MutationObserver(() => {
               for (const chip of document.querySelectorAll("#thread .tool-chip")) {
                 const seen = `${chip.dataset.tool} ${chip.dataset.status} ${chip.textContent}`;
                 if (window.__chips.at(-1) !== seen && !window.__chips.includes(seen)) {
                   window.__chips.push(seen);
                 }
               }
             }).observe(document.querySelector("#thread"),
                        { subtree: true, childList: true, attributes: true, characterData: true });
           }"""
    )


def shoot(chat: ChatPage, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    chat.page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_web_search_chips_running_then_done_and_after_a_reload(
    new_page: PageFactory, kimi_mock: MockUpstream
) -> None:
    chat = new_page().open()
    page = chat.page
    choose(chat, TEXT_ONLY)
    web = page.locator("sc-composer .switch-web")
    expect(web).to_be_visible()
    expect(web).to_have_attribute("aria-pressed", "false")
    expect(page.locator("sc-composer .switch-thinking")).to_be_hidden()  # no switch on this model
    web.click()
    expect(web).to_have_attribute("aria-pressed", "true")
    record_chips(chat)
    # each $web_search call streams as 7 tokens: at 4 tokens/s its chip runs for 1.75 s
    chat.send("latest news? [[mock search=2 tokens=4 rate=4]]")
    chips = page.locator(CHIPS)
    running = page.locator(f'{CHIPS}[data-status="running"]')
    expect(running).to_have_count(1)
    expect(running).to_contain_text("Searching the web…")
    shoot(chat, "search-running-light-en")
    chat.wait_status("complete")
    expect(chips).to_have_count(2)
    for chip in chips.all():
        expect(chip).to_have_attribute("data-status", "done")
        expect(chip).to_contain_text("Searched the web")
    seen = page.evaluate("window.__chips")
    assert seen.index("web_search:0 running Searching the web…") < seen.index(
        "web_search:0 done ✓Searched the web"
    ), seen
    assert "web_search:1 running Searching the web…" in seen, seen
    assert chat.source() == words(4)
    assert chat.bodies_to("/api/chat")[0]["web_search"] is True
    bodies = chat_bodies(kimi_mock)
    assert len(bodies) == 3 and all(
        b["tools"] == [{"type": "builtin_function", "function": {"name": "$web_search"}}]
        for b in bodies
    )
    # after a reload: the chips again (from the events the server keeps), the switch still on
    chat.reload()
    expect(chat.answers()).to_have_count(1)
    expect(page.locator(CHIPS)).to_have_count(2)
    expect(page.locator(CHIPS).last).to_have_attribute("data-status", "done")
    expect(page.locator("sc-composer .switch-web")).to_have_attribute("aria-pressed", "true")
    # the switch is kept per conversation: a new chat starts with it off
    page.locator("#new-chat").click()
    expect(page.locator("sc-composer .switch-web")).to_have_attribute("aria-pressed", "false")


def test_continue_appends_to_the_same_bubble(
    new_page: PageFactory, kimi_mock: MockUpstream
) -> None:
    chat = new_page().open()
    created = chat.api(
        "POST",
        "/api/conversations",
        json={"title": "cut", "model": TEXT_ONLY, "params": {"max_tokens": 5}},
    ).json()
    chat.open(f"/#/c/{created['id']}")
    chat.send("go on [[mock tokens=12]]")
    chat.wait_status("complete")
    answer = chat.answer()
    first_id = chat.message_id(answer)
    assert chat.source() == words(5)
    button = answer.locator(".continue-answer")
    expect(button).to_be_visible()
    expect(answer.locator(".status-badge")).to_have_text("cut off at the length limit")
    button.click()
    chat.wait_text(len(words(10)))
    chat.wait_status("complete")
    expect(chat.answers()).to_have_count(1)
    assert chat.message_id(chat.answer()) == first_id
    assert chat.source() == words(10)
    expect(chat.answer().locator(".msg-body")).to_contain_text("w1 w2 w3 w4 w5 w6 w7 w8 w9 w10")
    last = chat_bodies(kimi_mock)[-1]["messages"][-1]
    assert last == {"role": "assistant", "content": words(5), "partial": True}
    stored = chat.stored_answer()
    assert (stored["content"], stored["finish_reason"]) == (words(10), "length")
    # cut again: Continue again, and after a reload too
    chat.reload()
    expect(chat.answer().locator(".continue-answer")).to_be_visible()
    chat.answer().locator(".continue-answer").click()
    chat.wait_text(len(words(12)))
    chat.wait_status("complete")
    assert chat.source() == words(12)
    expect(chat.answer().locator(".continue-answer")).to_be_hidden()  # ended with stop


def test_the_thinking_switch_is_sent_and_kept(
    new_page: PageFactory, kimi_mock: MockUpstream
) -> None:
    chat = new_page().open()
    page = chat.page
    choose(chat, THINKING)
    thinking = page.locator("sc-composer .switch-thinking")
    expect(thinking).to_be_visible()
    expect(thinking).to_have_attribute("aria-pressed", "true")  # kimi-k2.5 thinks by default
    thinking.click()
    expect(thinking).to_have_attribute("aria-pressed", "false")
    chat.send("quick one [[mock tokens=3]]")
    chat.wait_status("complete")
    assert chat.bodies_to("/api/chat")[-1]["thinking"] is False
    assert chat_bodies(kimi_mock)[-1]["thinking"] == {"type": "disabled"}
    expect(chat.answer().locator(".thinking")).to_be_hidden()
    chat.reload()
    expect(page.locator("sc-composer .switch-thinking")).to_have_attribute("aria-pressed", "false")
    page.locator("sc-composer .switch-thinking").click()
    chat.send("think now [[mock tokens=3]]")
    chat.wait_status("complete")
    assert chat.bodies_to("/api/chat")[-1]["thinking"] is True
    assert chat_bodies(kimi_mock)[-1]["thinking"] == {"type": "enabled"}
    expect(chat.answer().locator(".thinking")).to_be_visible()
    # a model without the switch: none offered, none sent
    choose(chat, VISION)
    expect(page.locator("sc-composer .switch-thinking")).to_be_hidden()
    chat.send("no switch [[mock tokens=2]]")
    chat.wait_status("complete")
    assert "thinking" not in chat.bodies_to("/api/chat")[-1]


def test_simplified_chinese(new_page: PageFactory, kimi_mock: MockUpstream) -> None:
    chat = new_page(locale="zh-CN").open()
    page = chat.page
    choose(chat, TEXT_ONLY)
    expect(page.locator("sc-composer .attach")).to_have_attribute(
        "aria-label", "添加文件（也可以粘贴或拖放到这里）"
    )
    web = page.locator("sc-composer .switch-web")
    expect(web).to_contain_text("联网搜索")
    put_files(page, "paste", [("图.png", "image/png", samples.png())])
    warning = page.locator("sc-composer .composer-warning")
    expect(warning).to_contain_text(f"模型 {TEXT_ONLY} 无法识别图片")
    expect(page.locator("sc-composer .att-remove")).to_have_attribute("aria-label", "移除 图.png")
    shoot(chat, "cannot-see-light-zh")
    page.locator("sc-composer .att-remove").click()
    expect(warning).to_be_hidden()
    web.click()
    chat.send("搜索 [[mock search=1 tokens=3]]")
    chat.wait_status("complete")
    expect(page.locator(CHIPS)).to_have_text(["✓已联网搜索"])
    created = chat.api(
        "POST", "/api/conversations", json={"model": TEXT_ONLY, "params": {"max_tokens": 2}}
    ).json()
    chat.open(f"/#/c/{created['id']}")
    chat.send("截断 [[mock tokens=6]]")
    chat.wait_status("complete")
    expect(chat.answer().locator(".continue-answer")).to_have_text("继续生成")
    expect(chat.answer().locator(".status-badge")).to_have_text("因长度限制被截断")
    shoot(chat, "continue-light-zh")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_new_controls_meet_wcag_aa_contrast(
    new_page: PageFactory, kimi_mock: MockUpstream, scheme: str
) -> None:
    chat = new_page(color_scheme=scheme).open()
    page = chat.page
    choose(chat, TEXT_ONLY)
    page.locator("sc-composer .switch-web").click()
    put_files(page, "button", [("notes.pdf", "application/pdf", samples.pdf())])
    wait_uploaded(page, 1)
    chat.send("look it up [[mock search=1 tokens=30]]")
    chat.wait_status("complete")
    ratios: dict[str, Any] = {
        "switch on": contrast(chat, "sc-composer .switch-web"),
        "chip": contrast(chat, CHIPS),
        "file name": contrast(chat, ".msg-files .att-name"),
        "file size": contrast(chat, ".msg-files .att-meta"),
    }
    page.locator("sc-composer .switch-web").click()
    ratios["switch off"] = contrast(chat, "sc-composer .switch-web")
    put_files(page, "paste", [("x.png", "image/png", samples.png())])
    ratios["warning"] = contrast(chat, "sc-composer .composer-warning")
    ratios["remove"] = contrast(chat, "sc-composer .att-remove")
    assert all(r >= 4.5 for r in ratios.values()), ratios
    shoot(chat, f"composer-{scheme}-en")


def test_usable_on_a_phone(new_page: PageFactory, kimi_mock: MockUpstream) -> None:
    chat = new_page(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
        color_scheme="dark",
    ).open()
    page = chat.page
    choose(chat, VISION)
    page.locator("sc-composer .switch-web").tap()
    put_files(
        page,
        "button",
        [
            ("phone-shot.png", "image/png", samples.png(40, 30)),
            ("a-long-report-name-for-a-small-screen.pdf", "application/pdf", samples.pdf()),
        ],
    )
    wait_uploaded(page, 2)
    shoot(chat, "phone-tray-dark-en")
    chat.input.tap()
    chat.send("on the phone [[mock search=1 tokens=20]]")
    chat.wait_status("complete")
    expect(page.locator(CHIPS)).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for selector in (
        "sc-composer .attach",
        "sc-composer .switch-web",
        "sc-composer .send",
        ".msg-files .att-doc",
    ):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["height"] >= 44, selector
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, selector
    composer = page.locator(".composer").bounding_box()
    assert composer is not None and composer["y"] + composer["height"] <= 844
    shoot(chat, "phone-thread-dark-en")
