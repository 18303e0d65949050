"""The sidebar (new, switch, rename, delete, newest first), per-conversation settings, export."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.chat_page import ChatPage, words
from tests.browser.conftest import PageFactory

pytestmark = pytest.mark.browser


def ask_in_new_chat(chat: ChatPage, text: str) -> str:
    chat.page.locator("#new-chat").click()
    expect(chat.page.locator("#empty")).to_be_visible()
    chat.send(text)
    chat.wait_status("complete")
    return chat.conversation_id()


def titles(chat: ChatPage) -> list[str]:
    return chat.page.locator("sc-sidebar .conv-open").all_inner_texts()


def test_new_switch_and_newest_first(chat: ChatPage) -> None:
    expect(chat.page.locator("sc-sidebar .conv-empty")).to_be_visible()
    first = ask_in_new_chat(chat, "alpha [[mock tokens=1]]")
    second = ask_in_new_chat(chat, "beta [[mock tokens=2]]")
    third = ask_in_new_chat(chat, "gamma [[mock tokens=3]]")
    expect(chat.conversations()).to_have_count(3)
    assert titles(chat) == [
        "gamma [[mock tokens=3]]",
        "beta [[mock tokens=2]]",
        "alpha [[mock tokens=1]]",
    ]
    listed = chat.api("GET", "/api/conversations").json()["conversations"]
    assert [c["id"] for c in listed] == [third, second, first]
    expect(chat.page.locator(f'li.conv[data-id="{third}"] .conv-open')).to_have_attribute(
        "aria-current", "page"
    )

    assert chat.switch_to("alpha") == first
    expect(chat.page.locator("#title")).to_have_text("alpha [[mock tokens=1]]")
    expect(chat.answers()).to_have_count(1)
    assert chat.source() == words(1)
    expect(chat.page.locator(f'li.conv[data-id="{first}"] .conv-open')).to_have_attribute(
        "aria-current", "page"
    )
    # asking again moves it to the top
    chat.send("again [[mock tokens=2]]")
    chat.wait_status("complete")
    expect(chat.page.locator("sc-sidebar .conv-open").first).to_have_text("alpha [[mock tokens=1]]")
    expect(chat.answers()).to_have_count(2)
    # the back button walks the history of conversations
    chat.page.go_back()
    expect(chat.page.locator("#title")).to_have_text("gamma [[mock tokens=3]]")


def test_rename_with_the_keyboard(chat: ChatPage) -> None:
    cid = ask_in_new_chat(chat, "old name [[mock tokens=1]]")
    entry = chat.page.locator(f'li.conv[data-id="{cid}"]')
    entry.locator(".conv-open").focus()
    chat.page.keyboard.press("F2")  # one Tab stop per conversation: F2 renames from the link
    field = entry.locator(".conv-title-input")
    expect(field).to_be_focused()
    field.fill("  Shiny   new name ")
    field.press("Enter")
    expect(entry.locator(".conv-open")).to_have_text("Shiny new name")
    expect(chat.page.locator("#title")).to_have_text("Shiny new name")
    assert chat.stored(cid)["title"] == "Shiny new name"
    # Escape leaves the name alone
    entry.locator(".conv-rename").click()
    entry.locator(".conv-title-input").fill("nope")
    entry.locator(".conv-title-input").press("Escape")
    expect(entry.locator(".conv-open")).to_have_text("Shiny new name")
    chat.reload()
    expect(chat.page.locator(f'li.conv[data-id="{cid}"] .conv-open')).to_have_text("Shiny new name")


def test_delete_asks_once_more_then_removes(chat: ChatPage) -> None:
    keep = ask_in_new_chat(chat, "keep me [[mock tokens=1]]")
    drop = ask_in_new_chat(chat, "drop me [[mock tokens=1]]")
    entry = chat.page.locator(f'li.conv[data-id="{drop}"]')
    button = entry.locator(".conv-delete")
    button.click()
    expect(button).to_have_text("Delete?")
    assert chat.api("GET", f"/api/conversations/{drop}").status_code == 200
    button.click()
    expect(entry).to_have_count(0)
    assert chat.api("GET", f"/api/conversations/{drop}").status_code == 404
    # the shown conversation was deleted: the page is back on a new chat
    expect(chat.page.locator("#empty")).to_be_visible()
    expect(chat.page.locator("#title")).to_have_text("New chat")
    expect(chat.conversations()).to_have_count(1)
    assert chat.page.locator("li.conv").get_attribute("data-id") == keep
    # a confirmation left unclicked goes away with the focus
    other = chat.page.locator(f'li.conv[data-id="{keep}"] .conv-delete')
    other.click()
    expect(other).to_have_text("Delete?")
    chat.input.focus()
    expect(other).to_have_text("✕")


def test_deleting_a_conversation_while_it_streams(chat: ChatPage) -> None:
    chat.send("long [[mock tokens=500 rate=50]]")
    chat.wait_text(20)
    cid = chat.conversation_id()
    button = chat.page.locator(f'li.conv[data-id="{cid}"] .conv-delete')
    button.click()
    button.click()
    expect(chat.page.locator(f'li.conv[data-id="{cid}"]')).to_have_count(0)
    expect(chat.page.locator("#empty")).to_be_visible()
    expect(chat.send_button).to_be_visible()
    chat.send("next [[mock tokens=2]]")
    assert chat.wait_status() == "complete"


def test_settings_model_system_prompt_and_temperature_reach_the_upstream(
    chat: ChatPage,
) -> None:
    cid = ask_in_new_chat(chat, "hello [[mock tokens=1]]")
    chat.page.locator("#settings-btn").click()
    dialog = chat.page.locator("dialog.settings")
    expect(dialog).to_be_visible()
    dialog.locator("textarea[name=system_prompt]").fill("You are terse.")
    dialog.locator("input[name=temperature]").fill("0.3")
    dialog.locator("button.save").click()
    expect(dialog).to_be_hidden()
    stored = chat.stored(cid)
    assert stored["system_prompt"] == "You are terse."
    assert stored["params"] == {"temperature": 0.3}

    chat.send("configured [[mock tokens=2]]")
    chat.wait_status("complete")
    request = chat.server.mock.log()[-1]["body"]
    assert request["temperature"] == 0.3
    assert request["messages"][0] == {"role": "system", "content": "You are terse."}

    # reopening shows the saved values; clearing the temperature removes it
    chat.page.locator("#settings-btn").click()
    assert dialog.locator("textarea[name=system_prompt]").input_value() == "You are terse."
    assert dialog.locator("input[name=temperature]").input_value() == "0.3"
    dialog.locator("input[name=temperature]").fill("")
    dialog.locator("button.save").click()
    expect(dialog).to_be_hidden()
    assert chat.stored(cid)["params"] == {}


def test_settings_of_a_new_chat_apply_to_its_first_question(chat: ChatPage) -> None:
    chat.page.locator("#settings-btn").click()
    dialog = chat.page.locator("dialog.settings")
    expect(dialog.locator(".settings-export")).to_be_hidden()  # nothing to export yet
    dialog.locator("textarea[name=system_prompt]").fill("Answer in French.")
    dialog.locator("input[name=temperature]").fill("1.2")
    dialog.locator("button.save").click()
    chat.send("first question [[mock tokens=2]]")
    chat.wait_status("complete")
    stored = chat.stored()
    assert stored["title"] == "first question [[mock tokens=2]]"
    assert stored["system_prompt"] == "Answer in French."
    assert stored["params"] == {"temperature": 1.2}
    assert chat.server.mock.log()[-1]["body"]["temperature"] == 1.2


# 87 characters (code points), two of them outside the BMP: two UTF-16 units each in JavaScript
LONG_QUESTION = (
    "Plan a week in Sichuan 🌶️ for two, with trains, food and a rest day 🙂 [[mock tokens=2]]"
)


def test_a_long_question_s_title_is_cut_at_a_word_s_end_as_stored(chat: ChatPage) -> None:
    """The page titles a new conversation as the server does (prompts.title_for): the same
    characters, cut at a word's end, "…"; both ways a conversation starts (the first
    question; a new chat with settings, which creates it first)."""
    expected = "Plan a week in Sichuan 🌶️ for two, with trains, food and a rest day 🙂 [[mock…"
    chat.send(LONG_QUESTION)
    chat.wait_status("complete")
    assert chat.stored()["title"] == expected
    cid = chat.conversation_id()
    link = chat.page.locator(f'sc-sidebar li.conv[data-id="{cid}"] .conv-open')
    expect(link).to_have_text(expected)
    expect(chat.page.locator("#title")).to_have_text(expected)

    chat.page.locator("#new-chat").click()
    chat.page.locator("#settings-btn").click()
    dialog = chat.page.locator("dialog.settings")
    dialog.locator("textarea[name=system_prompt]").fill("Be brief.")
    dialog.locator("button.save").click()
    chat.send(LONG_QUESTION)
    chat.wait_status("complete")
    assert chat.stored()["title"] == expected
    assert chat.stored()["system_prompt"] == "Be brief."
    chat.reload()
    assert titles(chat)[:2] == [expected, expected]


def test_an_invalid_temperature_is_not_saved(chat: ChatPage) -> None:
    cid = ask_in_new_chat(chat, "x [[mock tokens=1]]")
    chat.page.locator("#settings-btn").click()
    dialog = chat.page.locator("dialog.settings")
    dialog.locator("input[name=temperature]").fill("7")
    dialog.locator("button.save").click()
    expect(dialog).to_be_visible()
    dialog.locator("button.cancel").click()
    expect(dialog).to_be_hidden()
    assert chat.stored(cid)["params"] == {}


def test_export_as_markdown_and_json(new_page: PageFactory) -> None:
    chat = new_page(accept_downloads=True).open()
    chat.send("export me [[mock text=markdown]]")
    chat.wait_status("complete")
    stored = chat.stored()
    chat.page.locator("#settings-btn").click()
    with chat.page.expect_download() as info:
        chat.page.locator("dialog.settings .export-md").click()
    download = info.value
    assert download.suggested_filename == "export-me-mock-text-markdown.md"
    markdown = download.path().read_text(encoding="utf-8")
    assert markdown.startswith("# export me [[mock text=markdown]]\n")
    assert "## You\n\nexport me [[mock text=markdown]]\n" in markdown
    assert "## Assistant (gpt-4o-mini)\n\n" + stored["messages"][1]["content"] in markdown

    with chat.page.expect_download() as info:
        chat.page.locator("dialog.settings .export-json").click()
    exported = json.loads(info.value.path().read_text(encoding="utf-8"))
    assert exported == stored
