"""One answer's life: stop while streaming, regenerate, edit the last question, the thinking
block, CJK and emoji split across byte chunks."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.chat_page import ChatPage, words

pytestmark = pytest.mark.browser


def test_stop_keeps_the_partial_answer_marked_stopped_and_frees_the_input(chat: ChatPage) -> None:
    chat.send("long [[mock tokens=2000 rate=50]]")
    chat.wait_text(40)
    chat.stop_button.click()
    # at once: Send is back and the input takes text, before the stream has even ended
    expect(chat.send_button).to_be_visible()
    expect(chat.stop_button).to_be_hidden()
    expect(chat.input).to_be_editable()
    expect(chat.input).to_be_focused()
    chat.input.type("next")
    assert chat.wait_status() == "stopped"
    badge = chat.answer().locator(".status-badge")
    expect(badge).to_have_text("stopped")
    stored = chat.stored_answer()
    assert stored["status"] == "stopped" and stored["finish_reason"] == "stopped"
    assert chat.source() == stored["content"]
    assert words(12) in stored["content"] and "w2000" not in stored["content"]
    assert chat.body_text() == stored["content"].strip()
    assert len(chat.requests_to("/stop")) == 1
    expect(chat.page.locator("#announcer")).to_have_text("Answer stopped.")
    # the stopped answer stays after a reload, and the conversation goes on
    chat.input.fill("more [[mock tokens=3]]")
    chat.input.press("Enter")
    assert chat.wait_status() == "complete"
    assert chat.source() == words(3)
    chat.reload()
    assert chat.answer(0).get_attribute("data-status") == "stopped"
    assert chat.source(0) == stored["content"]


def test_stop_right_after_sending(chat: ChatPage) -> None:
    chat.send("slow start [[mock tokens=50 rate=20 ttft_ms=400]]")
    chat.stop_button.click()
    expect(chat.send_button).to_be_visible()
    assert chat.wait_status() == "stopped"
    stored = chat.stored_answer()  # the server was told: nothing runs on unattended
    assert stored["status"] == "stopped" and stored["content"] == ""
    assert len(chat.requests_to("/stop")) == 1
    chat.send("again [[mock tokens=4]]")
    assert chat.wait_status() == "complete"
    assert chat.source() == words(4)


def test_regenerate_adds_a_version_of_the_answer(chat: ChatPage) -> None:
    chat.send("once [[mock tokens=6]]")
    chat.wait_status("complete")
    first = chat.stored_answer()["id"]
    regenerate = chat.answer().locator(".regenerate")
    expect(regenerate).to_be_visible()
    regenerate.click()
    chat.wait_status("complete")
    expect(chat.answers()).to_have_count(1)
    messages = chat.stored()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["id"] != first
    assert messages[1]["sibling_ids"] == [first, messages[1]["id"]]  # the first one is kept
    assert chat.source() == messages[1]["content"] == words(6)
    expect(chat.version(chat.answer())).to_have_text("2/2")
    assert [r.url for r in chat.requests_to("/regenerate")] == [
        f"{chat.base}/api/messages/{first}/regenerate"
    ]


def test_every_answer_offers_regenerate_and_every_question_edit(chat: ChatPage) -> None:
    chat.send("one [[mock tokens=2]]")
    chat.wait_status("complete")
    chat.send("two [[mock tokens=2]]")
    chat.wait_status("complete")
    for index in (0, 1):
        expect(chat.answer(index).locator(".regenerate")).to_be_visible()
        expect(chat.questions().nth(index).locator(".edit")).to_be_visible()
    # while an answer streams, none of them (one answer streams per conversation)
    chat.send("three [[mock tokens=200 rate=40]]")
    chat.wait_text(5)
    expect(chat.page.locator("#thread .regenerate:visible, #thread .edit:visible")).to_have_count(0)
    chat.stop_button.click()
    chat.wait_status("stopped")
    expect(chat.page.locator("#thread .regenerate:visible")).to_have_count(3)


def test_edit_the_last_question_and_resend(chat: ChatPage) -> None:
    chat.send("first try [[mock text=echo]]")
    chat.wait_status("complete")
    chat.send("second try [[mock text=echo]]")
    chat.wait_status("complete")
    question = chat.questions().last
    question.locator(".edit").click()
    editor = question.locator(".edit-input")
    expect(editor).to_be_focused()
    assert editor.input_value() == "second try [[mock text=echo]]"
    editor.fill("better question [[mock text=echo]]")
    editor.press("Enter")
    chat.wait_status("complete")
    expect(chat.questions()).to_have_count(2)
    expect(chat.questions().last.locator(".msg-body")).to_have_text(
        "better question [[mock text=echo]]"
    )
    assert chat.source() == "better question"
    contents = [m["content"] for m in chat.stored()["messages"]]
    assert contents == [
        "first try [[mock text=echo]]",
        "first try",
        "better question [[mock text=echo]]",
        "better question",
    ]
    # Escape cancels an edit
    chat.questions().last.locator(".edit").click()
    chat.questions().last.locator(".edit-input").press("Escape")
    expect(chat.questions().last.locator(".edit-input")).to_have_count(0)
    expect(chat.questions().last.locator(".msg-body")).to_be_visible()


def test_thinking_block_streams_then_collapses_with_its_duration(chat: ChatPage) -> None:
    chat.send("think [[mock reasoning=60 tokens=30 rate=60 dialect=moonshot]]")
    thinking = chat.answer().locator(".thinking")
    expect(thinking).to_be_visible()
    expect(thinking).to_have_attribute("open", "")
    expect(thinking.locator("summary")).to_have_text("Thinking…")
    expect(thinking.locator(".thinking-text")).to_contain_text("r1 r2 r3")
    chat.wait_text(5)  # the answer started: the block folds away
    expect(thinking).not_to_have_attribute("open", "")
    expect(thinking.locator("summary")).to_have_text(re.compile(r"^Thought for \d+\.\d s$"))
    chat.wait_status("complete")
    stored = chat.stored_answer()
    assert thinking.locator(".thinking-text").text_content() == stored["reasoning"]
    assert stored["reasoning"] == "".join(f" r{i}" for i in range(1, 61))
    seconds = float(thinking.locator("summary").inner_text().split()[2])
    assert 0.5 <= seconds <= 3  # 60 reasoning tokens at 60/s
    thinking.locator("summary").click()
    expect(thinking).to_have_attribute("open", "")

    chat.reload()
    thinking = chat.answer().locator(".thinking")
    expect(thinking).not_to_have_attribute("open", "")
    # the duration is stored (issue 14 item 6): it read "Thoughts" after a reload before
    thought = f"Thought for {chat.stored_answer()['reasoning_ms'] / 1000:.1f} s"
    expect(thinking.locator("summary")).to_have_text(thought)
    assert thinking.locator(".thinking-text").text_content() == stored["reasoning"]


def test_demo_thinking_model_shows_its_reasoning(chat: ChatPage) -> None:
    chat.page.select_option("#model", "demo-thinking")
    chat.send("你好")
    chat.wait_status("complete")
    stored = chat.stored_answer()
    assert stored["model"] == "demo-thinking"
    assert chat.answer().locator(".thinking-text").text_content() == stored["reasoning"]
    assert chat.source() == stored["content"]


@pytest.mark.parametrize("rate", [0, 40])
def test_cjk_and_emoji_split_across_byte_chunks_arrive_whole(chat: ChatPage, rate: int) -> None:
    chat.send(f"中文 [[mock text=cjk split=byte rate={rate}]]")
    chat.wait_status("complete")
    expected = (
        "你好，世界！这是一个流式输出的测试：每个汉字都是三个字节，"
        "表情符号 👩‍💻🎉🚀 是四个字节。日本語のテキストと한국어도 있습니다。"
        "温度 25℃，数学 α+β=γ。完毕 ✅"
    )
    assert chat.source() == expected
    assert chat.body_text() == expected
    assert "\ufffd" not in chat.page.locator("#thread").inner_text()
    assert chat.stored_answer()["content"] == expected
