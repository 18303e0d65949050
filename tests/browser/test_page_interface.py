"""The frame around the answers: model picker and demo notice, errors with Retry, English and
Simplified Chinese, auto-scroll with "jump to latest", keyboard use, dark mode, a phone."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from playwright.sync_api import Route, expect

from tests.browser.chat_page import ChatPage, words
from tests.browser.conftest import PageFactory
from tests.conftest import ServerFactory

pytestmark = pytest.mark.browser

KIMI_HINT = "MOONSHOT_API_KEY=sk-... streamchat serve"


def test_model_picker_lists_the_models_and_the_demo_notice_follows_the_choice(
    chat: ChatPage,
) -> None:
    picker = chat.page.locator("#model")
    assert picker.input_value() == "gpt-4o-mini"
    groups = picker.locator("optgroup").evaluate_all(
        "(gs) => gs.map((g) => [g.label, [...g.children].map((o) => o.value)])"
    )
    assert groups == [["mock", ["gpt-4o-mini"]], ["demo", ["demo", "demo-thinking"]]]
    notice = chat.page.locator("#demo-notice")
    expect(notice).to_be_hidden()

    picker.select_option("demo")
    expect(notice).to_be_visible()
    expect(notice.locator("code")).to_have_text(KIMI_HINT)
    chat.send("what are you?")
    chat.wait_status("complete")
    expect(chat.answer().locator(".msg-model")).to_have_text("demo")
    stored = chat.stored()
    assert stored["model"] == "demo" and stored["messages"][1]["model"] == "demo"
    assert chat.source() == stored["messages"][1]["content"]
    expect(chat.answer().locator(".msg-body h2")).to_have_text("What a real answer looks like")

    # switching the model of an existing conversation is saved with it
    picker.select_option("gpt-4o-mini")
    expect(notice).to_be_hidden()
    for _ in range(50):
        if chat.stored()["model"] == "gpt-4o-mini":
            break
        chat.page.wait_for_timeout(100)
    assert chat.stored()["model"] == "gpt-4o-mini"
    chat.send("and now? [[mock tokens=3]]")
    chat.wait_status("complete")
    expect(chat.answer().locator(".msg-model")).to_have_text("gpt-4o-mini")
    chat.reload()
    assert picker.input_value() == "gpt-4o-mini"


def test_demo_notice_shows_when_the_demo_model_is_the_default(
    make_server: ServerFactory, new_page: PageFactory
) -> None:
    server = make_server(providers=[], demo_token_rate=300)
    chat = new_page(base=server.url).open()
    assert chat.page.locator("#model").input_value() == "demo"
    notice = chat.page.locator("#demo-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("offline demo model")
    expect(notice.locator("code")).to_have_text(KIMI_HINT)
    chat.send("hello")
    chat.wait_status("complete")
    assert chat.source() == chat.stored_answer()["content"]


def test_a_retryable_upstream_error_shows_in_the_bubble_and_retry_answers(
    chat: ChatPage,
) -> None:
    key = uuid.uuid4().hex[:8]
    chat.send(f"flaky [[mock status=429 kind=rate_limit fail_times=3 fail_key={key} tokens=4]]")
    assert chat.wait_status() == "error"
    stored = chat.stored_answer()
    assert stored["status"] == "error" and stored["error"]["retryable"] is True
    box = chat.answer().locator(".msg-error")
    expect(box).to_be_visible()
    expect(box.locator(".err-title")).to_have_text("Error")
    expect(box.locator(".err-text")).to_have_text(stored["error"]["message"])
    assert box.get_attribute("role") == "alert"
    retry = box.locator(".retry")
    expect(retry).to_be_visible()
    retry.click()
    chat.wait_status("complete")
    expect(chat.answers()).to_have_count(1)
    assert chat.source() == words(4)
    assert len(chat.requests_to("/regenerate")) == 1
    messages = chat.stored()["messages"]
    assert [m["status"] for m in messages] == ["complete", "complete"]


def test_a_permanent_error_offers_no_retry(chat: ChatPage) -> None:
    chat.send("denied [[mock status=401 kind=auth]]")
    assert chat.wait_status() == "error"
    box = chat.answer().locator(".msg-error")
    expect(box).to_be_visible()
    expect(box.locator(".err-text")).to_have_text(chat.stored_answer()["error"]["message"])
    expect(box.locator(".retry")).to_be_hidden()
    expect(chat.send_button).to_be_visible()


def test_an_error_mid_answer_keeps_the_text_marked_incomplete(chat: ChatPage) -> None:
    chat.send("breaks [[mock tokens=30 error_after=10 kind=server]]")
    assert chat.wait_status() == "incomplete"
    stored = chat.stored_answer()
    assert chat.source() == stored["content"] == words(10)
    expect(chat.answer().locator(".status-badge")).to_have_text("incomplete")
    expect(chat.answer().locator(".msg-error .err-text")).to_have_text(stored["error"]["message"])


def test_an_http_error_before_the_stream_shows_in_the_bubble_and_resend_resends(
    chat: ChatPage,
) -> None:
    body = {
        "error": {"code": "store_unavailable", "message": "the store is down", "retryable": True}
    }

    calls: list[str] = []

    def fail_once(route: Route) -> None:
        calls.append(route.request.url)
        if len(calls) > 1:
            route.continue_()
        else:
            route.fulfill(status=503, content_type="application/json", body=json.dumps(body))

    chat.page.route("**/api/chat", fail_once)
    chat.send("first [[mock tokens=3]]")
    assert chat.wait_status() == "error"
    expect(chat.answer().locator(".err-text")).to_have_text("the store is down")
    expect(chat.answer().locator(".retry")).to_be_hidden()  # nothing stored: nothing to regenerate
    chat.answer().locator(".resend").click()
    chat.wait_status("complete")
    expect(chat.questions()).to_have_count(1)
    expect(chat.answers()).to_have_count(1)
    assert chat.source() == words(3)
    assert [m["role"] for m in chat.stored()["messages"]] == ["user", "assistant"]
    assert len(calls) == 2


def test_the_interface_speaks_english_and_simplified_chinese(new_page: PageFactory) -> None:
    chat = new_page(locale="zh-CN").open()
    page = chat.page
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    expect(page.locator("#new-chat")).to_have_text("新对话")
    expect(chat.send_button).to_have_text("发送")
    expect(page.locator("#empty h2")).to_have_text("有什么想问的？")
    assert "Shift+Enter 换行" in str(chat.input.get_attribute("placeholder"))
    chat.send("你好 [[mock tokens=5]]")
    chat.wait_status("complete")
    expect(chat.questions().first.locator(".msg-role")).to_have_text("你")
    expect(chat.answer().locator(".msg-role")).to_have_text("助手")
    expect(chat.answer().locator(".stats")).to_contain_text("个 token")
    expect(chat.answer().locator(".regenerate")).to_have_text("重新生成")

    page.select_option("#lang", "en")
    assert page.evaluate("document.documentElement.lang") == "en"
    expect(chat.send_button).to_have_text("Send")
    expect(page.locator("#new-chat")).to_have_text("New chat")
    expect(chat.answer().locator(".regenerate")).to_have_text("Regenerate")
    expect(chat.answer().locator(".stats")).to_contain_text(" tokens")
    chat.reload()  # the choice is remembered
    expect(chat.send_button).to_have_text("Send")
    page.select_option("#lang", "zh-CN")
    expect(chat.send_button).to_have_text("发送")


def test_english_is_chosen_for_other_browser_languages(new_page: PageFactory) -> None:
    chat = new_page(locale="de-DE").open()
    expect(chat.send_button).to_have_text("Send")
    assert chat.page.evaluate("document.documentElement.lang") == "en"


def distance_from_bottom(chat: ChatPage) -> float:
    value: float = chat.page.locator("#messages").evaluate(
        "(el) => el.scrollHeight - el.scrollTop - el.clientHeight"
    )
    return value


def settled_scroll_top(chat: ChatPage) -> int:
    """scrollTop once a (smooth) wheel scroll has come to rest."""
    value: int = chat.page.locator("#messages").evaluate(
        """(el) => new Promise((resolve) => {
             let last = -1, same = 0;
             const check = () => {
               same = el.scrollTop === last ? same + 1 : 0;
               last = el.scrollTop;
               if (same >= 10) resolve(last); else requestAnimationFrame(check);
             };
             check();
           })"""
    )
    return value


def test_auto_scroll_stops_when_the_reader_scrolls_up_and_jump_brings_it_back(
    chat: ChatPage,
) -> None:
    # 20 s of answer (3,200 pieces, ~23,000 characters): on a busy machine the scroll below
    # settled once the whole of a 10 s one had arrived, and no 400 characters more ever came
    chat.send("long [[mock tokens=3200 rate=160 text=markdown]]")
    chat.wait_text(2500)
    assert distance_from_bottom(chat) <= 48
    jump = chat.page.locator("#jump")
    expect(jump).to_be_hidden()

    chat.page.locator("#messages").hover()
    chat.page.mouse.wheel(0, -700)
    held = settled_scroll_top(chat)
    grown = len(chat.source())
    assert chat.answer().get_attribute("data-status") == "streaming", grown
    chat.wait_text(grown + 400)
    assert chat.page.locator("#messages").evaluate("(el) => el.scrollTop") == held
    assert distance_from_bottom(chat) > 200
    expect(jump).to_be_visible()
    expect(jump).to_contain_text("Jump to latest")

    jump.click()
    expect(jump).to_be_hidden()
    chat.wait_text(len(chat.source()) + 400)
    assert distance_from_bottom(chat) <= 48  # following again
    chat.wait_status("complete", timeout=30_000)
    assert distance_from_bottom(chat) <= 48


def test_the_skip_link_keeps_the_open_conversation(chat: ChatPage) -> None:
    """The skip link's target is an element, but the hash is the page's route: following it
    used to open a new chat, and a message sent right after it could vanish with the thread."""
    chat.send("first [[mock tokens=3]]")
    chat.wait_status("complete")
    conversation = chat.conversation_id()
    page = chat.page
    page.locator("a.skip").focus()
    page.keyboard.press("Enter")
    expect(chat.input).to_be_focused()
    expect(page).to_have_url(f"{chat.base}/#/c/{conversation}")
    expect(chat.answers()).to_have_count(1)
    page.keyboard.type("second [[mock tokens=2]]")
    page.keyboard.press("Enter")
    assert chat.wait_status() == "complete"
    expect(chat.answers()).to_have_count(2)
    assert chat.conversation_id() == conversation


def test_keyboard_only_use_with_visible_focus(chat: ChatPage) -> None:
    page = chat.page
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    expect(page.locator("a.skip")).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(chat.input).to_be_focused()
    page.keyboard.type("typed [[mock tokens=400 rate=40]]")
    page.keyboard.press("Enter")
    chat.wait_text(20)
    page.keyboard.press("Tab")
    expect(chat.stop_button).to_be_focused()
    outline = chat.stop_button.evaluate("(el) => getComputedStyle(el).outlineStyle")
    assert outline == "solid"
    page.keyboard.press("Enter")
    assert chat.wait_status() == "stopped"
    expect(chat.input).to_be_focused()
    # the settings dialog opens, traps focus and closes with Escape
    page.locator("#settings-btn").focus()
    page.keyboard.press("Enter")
    dialog = page.locator("dialog.settings")
    expect(dialog).to_be_visible()
    expect(dialog.locator("select[name=model]")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


@pytest.mark.parametrize(
    ("scheme", "background"), [("light", "rgb(255, 255, 255)"), ("dark", "rgb(22, 24, 29)")]
)
def test_light_and_dark_follow_the_system(
    new_page: PageFactory, scheme: str, background: str
) -> None:
    chat = new_page(color_scheme=scheme).open()
    chat.send("code [[mock text=markdown]]")
    chat.wait_status("complete")
    style = "(el) => getComputedStyle(el).backgroundColor"
    assert chat.page.locator("body").evaluate(style) == background
    code_bg = chat.answer().locator(".code-block").evaluate(style)
    keyword = (
        chat.answer().locator(".hljs-keyword").first.evaluate("(el) => getComputedStyle(el).color")
    )
    if scheme == "dark":
        assert code_bg == "rgb(13, 17, 23)" and keyword == "rgb(255, 123, 114)"
    else:
        assert code_bg == "rgb(246, 248, 250)" and keyword == "rgb(215, 58, 73)"


def test_usable_on_a_phone(new_page: PageFactory) -> None:
    chat = new_page(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    ).open()
    page = chat.page
    sidebar = page.locator("#sidebar")
    box = sidebar.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 0  # off-canvas
    menu = page.locator("#menu")
    expect(menu).to_be_visible()
    chat.input.tap()
    chat.send("phone [[mock text=markdown]]")
    chat.wait_status("complete")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    composer = page.locator(".composer").bounding_box()
    assert composer is not None and composer["x"] >= 0 and composer["x"] + composer["width"] <= 390
    assert composer["y"] + composer["height"] <= 844
    for selector in ("#menu", "#settings-btn", "sc-composer .send"):
        size = page.locator(selector).bounding_box()
        assert size is not None and size["height"] >= 32, selector

    menu.tap()
    expect(menu).to_have_attribute("aria-expanded", "true")
    page.wait_for_function(
        "() => document.querySelector('#sidebar').getBoundingClientRect().x >= 0"
    )
    page.locator("#new-chat").tap()
    page.wait_for_function(
        "() => document.querySelector('#sidebar').getBoundingClientRect().right <= 0"
    )
    menu.tap()
    page.keyboard.press("Escape")  # Escape closes the drawer too
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()
    menu.tap()
    chat.conversation_link("phone").tap()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(chat.answers()).to_have_count(1)
    # A stored answer is drawn in slices, its end first: wait for its text, not one frame.
    expect(chat.answer().locator(".msg-body")).to_contain_text(re.compile(r"w\d|Streaming"))
