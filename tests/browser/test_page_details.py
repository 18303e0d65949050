"""The smaller items of issue 14 (item 4), each failing on the page before its change: the
sidebar's Load more, the streaming dot after a reload, the stats line, empty error bubbles, the
Edit box, titles, the phone, errors in Simplified Chinese, the theme switch and contrast, and
the keyboard."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Route, expect

from tests.browser.chat_page import ChatPage
from tests.browser.conftest import PageFactory

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def test_load_more_is_not_undone_by_the_next_answer(chat: ChatPage) -> None:
    for i in range(55):
        created = chat.api("POST", "/api/conversations", json={"title": f"old {i}"})
        assert created.status_code in (200, 201)
    chat.reload()
    expect(chat.conversations()).to_have_count(50)
    chat.page.locator("sc-sidebar .more").click()
    expect(chat.conversations()).to_have_count(55)
    expect(chat.page.locator("sc-sidebar .more")).to_be_hidden()
    chat.send("new one [[mock tokens=3]]")
    chat.wait_status("complete")
    chat.page.wait_for_timeout(500)  # the list is read again after the answer
    expect(chat.conversations()).to_have_count(56)
    expect(chat.conversation_link("old 0")).to_have_count(1)


def test_the_streaming_dot_shows_after_a_reload(chat: ChatPage) -> None:
    chat.send("slow [[mock tokens=200 rate=20]]")
    chat.wait_text(10)
    cid = chat.conversation_id()
    dot = chat.page.locator(f'li.conv[data-id="{cid}"] .conv-dot')
    expect(dot).to_be_visible()
    chat.reload()
    assert chat.answer().get_attribute("data-status") == "streaming"
    expect(dot).to_be_visible()
    chat.page.locator("sc-composer .stop").click()
    chat.wait_status("stopped")
    expect(dot).to_be_hidden()


def test_no_token_count_for_an_empty_answer_and_no_rate_from_a_burst(chat: ChatPage) -> None:
    chat.send("burst [[mock tokens=60 rate=0]]")
    chat.wait_status("complete")
    stats = chat.answer().locator(".stats")
    expect(stats).to_contain_text("60 tokens")
    assert "tokens/s" not in stats.inner_text()  # 60 tokens in a few ms is no rate
    chat.send("paced [[mock tokens=30 rate=40]]")
    chat.wait_status("complete")
    expect(chat.answer().locator(".stats")).to_contain_text(re.compile(r"\d+\.\d tokens/s"))
    chat.send("nothing [[mock tokens=0 usage=0]]")
    chat.wait_status(re.compile("complete|error"))
    assert "~0" not in chat.answer().locator(".stats").inner_text()


def test_an_error_with_no_text_offers_neither_copy_nor_regenerate(chat: ChatPage) -> None:
    chat.send("fail [[mock status=500 kind=server]]")
    assert chat.wait_status() == "error"
    answer = chat.answer()
    expect(answer.locator(".msg-error")).to_be_visible()
    expect(answer.locator(".copy-answer")).to_be_hidden()
    expect(answer.locator(".regenerate")).to_be_hidden()
    # an answer with text keeps them
    chat.send("fine [[mock tokens=3]]")
    chat.wait_status("complete")
    expect(chat.answer().locator(".copy-answer")).to_be_visible()
    expect(chat.answer().locator(".regenerate")).to_be_visible()


def test_the_edit_box_says_it_is_editing_with_cancel_and_send_side_by_side(
    chat: ChatPage,
) -> None:
    chat.send("first [[mock tokens=2]]")
    chat.wait_status("complete")
    chat.questions().first.locator(".edit").click()
    box = chat.questions().first.locator(".edit-box")
    expect(box.locator(".edit-label")).to_have_text("Editing your question")
    assert box.locator(".edit-input").get_attribute("aria-label") == "Editing your question"
    send = box.locator(".edit-send").bounding_box()
    cancel = box.locator(".edit-cancel").bounding_box()
    assert send and cancel
    assert abs(send["y"] - cancel["y"]) < 2 and cancel["x"] < send["x"]
    box.locator(".edit-cancel").click()
    expect(box).to_have_count(0)


def test_a_code_fence_is_not_shown_as_a_title(chat: ChatPage) -> None:
    chat.send("```python\nprint(1)\n```\n## why? [[mock tokens=2]]")
    chat.wait_status("complete")
    cid = chat.conversation_id()
    assert "```" in chat.stored(cid)["title"]  # stored as the server made it
    link = chat.page.locator(f'li.conv[data-id="{cid}"] .conv-open')
    expect(link).to_have_text("print(1) why? [[mock tokens=2]]")
    expect(chat.page.locator("#title")).to_have_text("print(1) why? [[mock tokens=2]]")
    chat.reload()
    expect(chat.page.locator("#title")).to_have_text("print(1) why? [[mock tokens=2]]")


def test_underscores_inside_words_stay_in_a_title(chat: ChatPage) -> None:
    """Markdown emphasis is taken out of a title, but an underscore inside a word is not
    emphasis (CommonMark): "rate_limit retry_after" was shown as "ratelimit retryafter"."""
    chat.send("why rate_limit and retry_after, _really_? [[mock tokens=2]]")
    chat.wait_status("complete")
    shown = "why rate_limit and retry_after, really? [[mock tokens=2]]"
    expect(chat.page.locator("#title")).to_have_text(shown)
    cid = chat.conversation_id()
    expect(chat.page.locator(f'li.conv[data-id="{cid}"] .conv-open')).to_have_text(shown)


def test_on_a_phone_the_notice_can_be_dismissed_and_nothing_is_too_small(
    new_page: PageFactory,
) -> None:
    chat = new_page(**PHONE).open()
    chat.page.locator("#model").select_option("demo")
    notice = chat.page.locator("#demo-notice")
    expect(notice).to_be_visible()
    notice.locator(".notice-close").click()
    expect(notice).to_be_hidden()
    chat.reload()
    chat.page.locator("#model").select_option("demo")
    expect(notice).to_be_hidden()  # remembered
    font = chat.input.evaluate("(el) => getComputedStyle(el).fontSize")
    assert font == "16px"  # under 16 px iOS zooms into the field
    assert "Shift+Enter" not in str(chat.input.get_attribute("placeholder"))
    chat.send("hi [[mock tokens=2]]")
    chat.wait_status("complete")
    targets = [
        "#menu",
        "#settings-btn",
        "sc-composer .send",
        ".msg-assistant .regenerate",
        ".msg-assistant .copy-answer",
        ".msg-user .edit",
    ]
    for selector in targets:
        box = chat.page.locator(selector).first.bounding_box()
        assert box and box["height"] >= 44 and box["width"] >= 44, (selector, box)


def test_the_desktop_keeps_the_shift_enter_hint(chat: ChatPage) -> None:
    assert "Shift+Enter" in str(chat.input.get_attribute("placeholder"))


def test_provider_errors_in_chinese_and_no_raw_failed_to_fetch(new_page: PageFactory) -> None:
    chat = new_page(locale="zh-CN").open()
    chat.send("限流 [[mock status=429 kind=rate_limit]]")
    chat.wait_status("error")
    text = chat.answer().locator(".err-text").inner_text()
    assert re.search(r"[\u4e00-\u9fff]", text), text
    assert "limit" not in text.lower()

    def drop(route: Route) -> None:
        route.abort("connectionreset")

    chat.page.route("**/api/chat", drop)
    chat.send("断网 [[mock tokens=2]]")
    chat.wait_status("error")
    text = chat.answer().locator(".err-text").inner_text()
    assert "Failed to fetch" not in text and "连接失败" in text


def luminance(rgb: str) -> float:
    channels = [int(v) / 255 for v in re.findall(r"\d+(?:\.\d+)?", rgb)[:3]]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(chat: ChatPage, selector: str) -> float:
    # a control re-rendered between the locator's match and the read is detached: its computed
    # colours are empty strings; read again (the page settles within a few frames)
    for _ in range(40):
        fg, bg = _colours(chat, selector)
        if len(re.findall(r"\d", fg)) >= 3 and len(re.findall(r"\d", bg)) >= 3:
            break
        chat.page.wait_for_timeout(50)
    a, b = sorted([luminance(fg), luminance(bg)], reverse=True)
    return (a + 0.05) / (b + 0.05)


def _colours(chat: ChatPage, selector: str) -> tuple[str, str]:
    fg, bg = chat.page.locator(selector).first.evaluate(
        """(el) => {
             const fg = getComputedStyle(el).color;
             let node = el, bg = "rgba(0, 0, 0, 0)";
             while (node && /rgba\\(.*, 0\\)|transparent/.test(bg)) {
               bg = getComputedStyle(node).backgroundColor;
               node = node.parentElement;
             }
             return [fg, bg];
           }"""
    )
    return str(fg), str(bg)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_controls_meet_wcag_aa_contrast(new_page: PageFactory, scheme: str) -> None:
    chat = new_page(color_scheme=scheme).open()
    chat.send("slow [[mock tokens=100 rate=20]]")
    chat.wait_text(5)
    ratios = {
        "stop": contrast(chat, "sc-composer .stop"),
        "muted": contrast(chat, ".msg-assistant .msg-model"),
        "text": contrast(chat, ".msg-assistant .msg-body p"),
        "new chat": contrast(chat, "#new-chat"),
    }
    chat.stop_button.click()
    chat.wait_status("stopped")
    ratios["regenerate"] = contrast(chat, ".msg-assistant .regenerate")
    assert all(r >= 4.5 for r in ratios.values()), ratios


def test_a_manual_light_or_dark_switch_that_is_remembered(
    new_page: PageFactory,
) -> None:
    chat = new_page(color_scheme="light").open()
    background = "() => getComputedStyle(document.body).backgroundColor"
    light = chat.page.evaluate(background)
    chat.page.select_option("#theme", "dark")
    assert chat.page.evaluate("document.documentElement.dataset.theme") == "dark"
    dark = chat.page.evaluate(background)
    assert luminance(dark) < 0.05 < luminance(light)
    assert chat.page.locator("#code-dark").get_attribute("media") == "all"
    chat.reload()
    assert chat.page.evaluate(background) == dark
    expect(chat.page.locator("#theme")).to_have_value("dark")
    chat.page.select_option("#theme", "system")
    assert chat.page.evaluate(background) == light


def test_the_thread_scrolls_from_the_keyboard_and_jump_keeps_the_focus(chat: ChatPage) -> None:
    chat.send("long [[mock tokens=1500 rate=0]]")
    chat.wait_status("complete")
    messages = chat.page.locator("#messages")
    messages.focus()
    expect(messages).to_be_focused()
    top = messages.evaluate("(el) => el.scrollTop")
    chat.page.keyboard.press("PageUp")
    chat.page.keyboard.press("PageUp")
    chat.page.wait_for_timeout(400)
    assert messages.evaluate("(el) => el.scrollTop") < top
    chat.send("more [[mock tokens=30 rate=30]]")
    messages.evaluate(
        "(el) => { el.scrollTop = 0; el.dispatchEvent(new WheelEvent('wheel', {deltaY: -5})); }"
    )
    jump = chat.page.locator("#jump")
    expect(jump).to_be_visible()
    jump.focus()
    chat.page.keyboard.press("Enter")
    expect(jump).to_be_hidden()
    assert chat.page.evaluate("document.activeElement.id") == "messages"
    chat.wait_status("complete")


def test_one_tab_stop_per_conversation_with_keys_to_rename_and_delete(chat: ChatPage) -> None:
    for name in ("one", "two", "three"):
        chat.page.locator("#new-chat").click()
        chat.send(f"{name} [[mock tokens=1]]")
        chat.wait_status("complete")
    links = chat.page.locator("sc-sidebar .conv-open")
    links.first.focus()
    chat.page.keyboard.press("Tab")
    expect(links.nth(1)).to_be_focused()
    chat.page.keyboard.press("Tab")
    expect(links.nth(2)).to_be_focused()
    chat.page.keyboard.press("ArrowUp")
    expect(links.nth(1)).to_be_focused()
    chat.page.keyboard.press("Delete")
    expect(chat.page.locator("sc-sidebar .conv-delete.confirming")).to_have_count(1)
    chat.page.keyboard.press("Delete")
    expect(chat.conversations()).to_have_count(2)
