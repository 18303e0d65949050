"""Conversations as trees on the page (issue 11): every action names its message, Regenerate and
Edit add versions (``‹ n/m ›``) and never delete, a question the server never stored is sent
again as it was, two tabs cannot damage each other, and a new chat owns its own runs."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Route, expect

from tests.browser.chat_page import ChatPage, words
from tests.browser.conftest import PageFactory
from tests.conftest import ServerFactory

pytestmark = pytest.mark.browser


def echo(text: str) -> str:
    """A question the mock answers with its own text (without the directive)."""
    return f"{text} [[mock text=echo]]"


def ask(chat: ChatPage, text: str) -> None:
    chat.send(echo(text))
    assert chat.wait_status() == "complete"


# -- the four reproductions of issue 11 ---------------------------------------------------------


@pytest.mark.timeout(200)
def test_issue_11_retry_after_a_rate_limit_resends_the_refused_question(
    make_server: ServerFactory, new_page: PageFactory
) -> None:
    """Reproduction 1: with --requests-per-minute 3, q4 is refused (429). Retry on q4 regenerated
    q3's answer and showed it under q4; q4 was never sent; after a reload q4 was gone and q3's
    answer replaced. Now q4 offers Resend (waiting for Retry-After) and Edit & resend, and
    Resend asks q4 again after q3's answer, which stays as it was."""
    server = make_server(requests_per_minute=3, demo_token_rate=200)
    chat = new_page(base=server.url).open()
    for text in ("q1", "q2", "q3"):
        ask(chat, text)
    before = chat.stored()["messages"]
    chat.send(echo("q4"))
    assert chat.wait_status() == "error"
    question, error = chat.questions().last, chat.answer().locator(".msg-error")
    expect(error.locator(".err-text")).to_contain_text("more than 3 answers in a minute")
    expect(question.locator(".unsent-badge")).to_have_text("not sent")
    expect(chat.answer().locator(".regenerate")).to_be_hidden()
    expect(error.locator(".retry")).to_be_hidden()
    expect(error.locator(".edit-resend")).to_be_visible()
    resend = error.locator(".resend")
    expect(resend).to_be_disabled()  # Retry-After: it counts down, and waits
    expect(resend).to_have_text(re.compile(r"^Resend \((\d|[1-5]\d|6[01]) s\)$"))
    assert chat.stored()["messages"] == before  # the refusal wrote nothing
    expect(resend).to_be_enabled(timeout=75_000)
    expect(resend).to_have_text("Resend")
    resend.click()
    assert chat.wait_status() == "complete"
    assert chat.texts() == [echo("q1"), "q1", echo("q2"), "q2", echo("q3"), "q3", echo("q4"), "q4"]
    expect(chat.page.locator("#thread [data-unsent]")).to_have_count(0)
    sent = chat.bodies_to("/api/chat")
    assert sent[-1]["message"] == sent[-2]["message"] == echo("q4")
    assert sent[-1]["parent_id"] == sent[-2]["parent_id"] == before[-1]["id"]
    assert len(chat.requests_to("/regenerate")) == 0

    chat.reload()
    messages = chat.stored()["messages"]
    assert messages[:6] == before  # q3's answer untouched, with no other version
    assert [m["content"] for m in messages[6:]] == [echo("q4"), "q4"]
    assert chat.texts() == [echo("q1"), "q1", echo("q2"), "q2", echo("q3"), "q3", echo("q4"), "q4"]


def test_issue_11_a_too_long_question_offers_edit_and_resend_not_regenerate(
    chat: ChatPage,
) -> None:
    """Reproduction 2: after two questions a 32,001-character message is refused (400). Its error
    bubble offered Regenerate, which regenerated the previous answer under the refused question;
    Edit on it replaced the previous question and its answer on the server while the screen
    still showed them. Now the bubble offers Edit & resend only (the same request would fail
    again), and the edited question follows the second answer; nothing is replaced."""
    ask(chat, "q1")
    ask(chat, "q2")
    before = chat.stored()["messages"]
    chat.input.fill("x" * 32_001)
    chat.input.press("Enter")
    assert chat.wait_status() == "error"
    error = chat.answer().locator(".msg-error")
    expect(error.locator(".err-text")).to_contain_text("32001 characters")
    expect(chat.answer().locator(".regenerate")).to_be_hidden()
    expect(error.locator(".retry")).to_be_hidden()
    expect(error.locator(".resend")).to_be_hidden()  # not retryable: resending it as is would fail
    expect(chat.questions().last.locator(".unsent-badge")).to_be_visible()
    assert chat.stored()["messages"] == before

    error.locator(".edit-resend").click()
    editor = chat.questions().last.locator(".edit-input")
    expect(editor).to_be_focused()
    assert editor.input_value() == "x" * 32_001
    editor.fill(echo("q3"))
    editor.press("Enter")
    assert chat.wait_status() == "complete"
    shown = [echo("q1"), "q1", echo("q2"), "q2", echo("q3"), "q3"]
    assert chat.texts() == shown
    assert chat.bodies_to("/api/chat")[-1]["parent_id"] == before[-1]["id"]
    assert len(chat.requests_to("/edit")) == 0 and len(chat.requests_to("/regenerate")) == 0
    messages = chat.stored()["messages"]
    assert [m["id"] for m in messages[:4]] == [m["id"] for m in before]
    assert [m["content"] for m in messages] == shown
    chat.reload()
    assert chat.texts() == shown


def test_issue_11_two_tabs_each_action_names_its_message(new_page: PageFactory) -> None:
    """Reproduction 3: two tabs on one conversation; tab B asks; tab A (not updated) pressed
    Regenerate: B's answer was regenerated and shown under A's question; Edit in A replaced
    B's question. Now A's Regenerate makes a version of the answer A shows, Edit a version of
    the question A shows, and B's question and answer stay, one version switch away."""
    a = new_page().open()
    ask(a, "q1")
    conversation = a.conversation_id()
    q1, a1 = a.stored()["messages"]
    b = new_page().open(f"/#/c/{conversation}")
    expect(b.answers()).to_have_count(1)
    ask(b, "q2")
    _, _, q2, a2 = b.stored()["messages"]

    a.answer(0).locator(".regenerate").click()  # tab A still shows q1 and its answer only
    assert a.wait_status() == "complete"
    assert a.texts() == [echo("q1"), "q1"]
    expect(a.version(a.answer(0))).to_have_text("2/2")
    regenerated = a.message_id(a.answer(0))
    tree = a.tree()
    assert tree[regenerated]["parent_id"] == q1["id"]
    assert tree[regenerated]["sibling_ids"] == [a1["id"], regenerated]
    assert tree[q2["id"]]["content"] == echo("q2") and tree[a2["id"]]["content"] == "q2"
    assert a.requests_to(f"/api/messages/{a1['id']}/regenerate")

    question = a.questions().first
    question.locator(".edit").click()
    question.locator(".edit-input").fill(echo("q1 again"))
    question.locator(".edit-input").press("Enter")
    assert a.wait_status() == "complete"
    assert a.texts() == [echo("q1 again"), "q1 again"]
    expect(a.version(a.questions().first)).to_have_text("2/2")
    assert a.requests_to(f"/api/messages/{q1['id']}/edit")
    tree = a.tree()
    assert len(tree) == 7  # nothing replaced: every version is kept
    assert tree[q2["id"]] == q2
    assert tree[a2["id"]]["content"] == "q2"

    # B's question is still there: the first version of q1, then the first version of its answer
    a.questions().first.locator(".version-prev").click()
    expect(a.version(a.questions().first)).to_have_text("1/2")
    assert a.texts() == [echo("q1"), "q1"]  # the newest answer to q1 (tab A's regenerate)
    a.answer(0).locator(".version-prev").click()
    expect(a.version(a.answer(0))).to_have_text("1/2")
    assert a.texts() == [echo("q1"), "q1", echo("q2"), "q2"]
    assert a.shown_ids() == [q1["id"], a1["id"], q2["id"], a2["id"]]
    b.reload()  # the other tab, reloaded, shows the same branch
    assert b.shown_ids() == [q1["id"], a1["id"], q2["id"], a2["id"]]


def test_issue_11_a_new_chat_while_another_first_answer_streams_is_its_own(
    chat: ChatPage,
) -> None:
    """Reproduction 4: a new chat's first answer streams; New chat; type; Enter. The blank chat
    showed Stop, Enter did nothing, and Stop stopped the other chat's answer (activeRun()
    returned the pending run whenever no conversation was open). Now a run belongs to the
    view it was started from."""
    chat.send("long [[mock tokens=600 rate=40]]")
    chat.wait_text(20)
    first = chat.conversation_id()
    first_answer = chat.message_id(chat.answer())
    chat.page.locator("#new-chat").click()
    expect(chat.page.locator("#empty")).to_be_visible()
    expect(chat.send_button).to_be_visible()
    expect(chat.stop_button).to_be_hidden()
    expect(chat.page.locator("#title")).to_have_text("New chat")

    chat.input.fill("other [[mock tokens=400 rate=40]]")
    chat.input.press("Enter")  # Enter sends, in the new chat
    chat.wait_text(10)
    second = chat.conversation_id()
    assert second != first
    assert chat.texts()[0] == "other [[mock tokens=400 rate=40]]"
    expect(chat.questions()).to_have_count(1)
    expect(chat.stop_button).to_be_visible()
    chat.stop_button.click()
    assert chat.wait_status() == "stopped"
    stops = chat.requests_to("/stop")
    assert [r.url for r in stops] == [
        f"{chat.base}/api/generations/{chat.message_id(chat.answer())}/stop"
    ]
    # the other chat's answer was never stopped: it streams on, and ends complete
    assert chat.stored(first)["messages"][-1]["status"] == "streaming"
    chat.switch_to("long")
    assert chat.wait_status(timeout=40_000) == "complete"
    stored = chat.stored(first)["messages"][-1]
    assert stored["id"] == first_answer and stored["content"] == words(600)
    assert chat.source() == words(600)


# -- versions ------------------------------------------------------------------------------------


def test_regenerate_any_answer_adds_a_version_and_reload_keeps_the_branch(
    chat: ChatPage,
) -> None:
    ask(chat, "q1")
    ask(chat, "q2")
    q1, a1, q2, a2 = chat.stored()["messages"]
    expect(chat.page.locator("#thread .versions:visible")).to_have_count(0)
    first = chat.answer(0)
    expect(first.locator(".regenerate")).to_be_visible()  # not only on the last answer
    first.locator(".regenerate").click()
    assert chat.wait_status() == "complete"
    assert chat.texts() == [echo("q1"), "q1"]
    answer = chat.answer(0)
    expect(chat.version(answer)).to_have_text("2/2")
    expect(answer.locator(".versions")).to_have_attribute("aria-label", "Version 2 of 2")
    expect(answer.locator(".version-next")).to_be_disabled()
    expect(answer.locator(".version-prev")).to_have_attribute("aria-label", "Previous version")
    second = chat.message_id(answer)
    assert chat.stored()["current_message_id"] == second

    # with the keyboard: the focus stays on the arrows, and the new version is announced
    answer.locator(".version-prev").focus()
    chat.page.keyboard.press("Enter")
    expect(chat.version(chat.answer(0))).to_have_text("1/2")
    expect(chat.answer(0).locator(".version-next")).to_be_focused()
    outline = (
        chat.answer(0)
        .locator(".version-next")
        .evaluate("(el) => getComputedStyle(el).outlineStyle")
    )
    assert outline == "solid"
    expect(chat.page.locator("#announcer")).to_have_text("Version 1 of 2")
    assert chat.bodies_to(f"/api/conversations/{chat.conversation_id()}", "PATCH") == [
        {"current_message_id": a1["id"]}
    ]
    assert chat.shown_ids() == [q1["id"], a1["id"], q2["id"], a2["id"]]
    chat.reload()
    assert chat.shown_ids() == [q1["id"], a1["id"], q2["id"], a2["id"]]
    expect(chat.version(chat.answer(0))).to_have_text("1/2")

    chat.answer(0).locator(".version-next").click()
    expect(chat.version(chat.answer(0))).to_have_text("2/2")
    assert chat.shown_ids() == [q1["id"], second]
    chat.reload()
    assert chat.shown_ids() == [q1["id"], second]
    assert len(chat.tree()) == 5  # nothing deleted


def test_edit_any_question_adds_a_version_and_reload_keeps_the_branch(chat: ChatPage) -> None:
    ask(chat, "q1")
    ask(chat, "q2")
    q1, a1, q2, a2 = chat.stored()["messages"]
    question = chat.questions().first
    expect(question.locator(".edit")).to_be_visible()  # not only on the last question
    question.locator(".edit").click()
    question.locator(".edit-input").fill(echo("q1 better"))
    question.locator(".edit-input").press("Enter")
    assert chat.wait_status() == "complete"
    assert chat.texts() == [echo("q1 better"), "q1 better"]
    expect(chat.version(chat.questions().first)).to_have_text("2/2")
    expect(chat.answer(0).locator(".versions")).to_be_hidden()  # its answer has one version
    edited = chat.message_id(chat.questions().first)
    assert chat.tree()[edited]["sibling_ids"] == [q1["id"], edited]
    chat.reload()
    assert chat.texts() == [echo("q1 better"), "q1 better"]

    chat.questions().first.locator(".version-prev").click()
    expect(chat.version(chat.questions().first)).to_have_text("1/2")
    assert chat.shown_ids() == [q1["id"], a1["id"], q2["id"], a2["id"]]
    chat.reload()
    assert chat.texts() == [echo("q1"), "q1", echo("q2"), "q2"]
    expect(chat.version(chat.questions().first)).to_have_text("1/2")
    assert len(chat.tree()) == 6


def test_versions_in_simplified_chinese(new_page: PageFactory) -> None:
    chat = new_page(locale="zh-CN").open()
    ask(chat, "q1")
    chat.answer().locator(".regenerate").click()
    assert chat.wait_status() == "complete"
    versions = chat.answer().locator(".versions")
    expect(versions).to_have_attribute("aria-label", "第 2 个版本，共 2 个")
    expect(versions.locator(".version-prev")).to_have_attribute("aria-label", "上一个版本")
    expect(versions.locator(".version-next")).to_have_attribute("aria-label", "下一个版本")


def test_versions_fit_a_phone(new_page: PageFactory) -> None:
    chat = new_page(
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        device_scale_factor=2,
    ).open()
    ask(chat, "q1")
    chat.answer().locator(".regenerate").tap()
    assert chat.wait_status() == "complete"
    expect(chat.version(chat.answer())).to_have_text("2/2")
    for arrow in (".version-prev", ".version-next"):
        box = chat.answer().locator(arrow).bounding_box()
        assert box is not None and box["height"] >= 32 and box["width"] >= 32, arrow
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, arrow
    assert chat.page.evaluate("document.documentElement.scrollWidth") <= 390
    chat.answer().locator(".version-prev").tap()
    expect(chat.version(chat.answer())).to_have_text("1/2")


# -- questions never stored, and another tab's answer ---------------------------------------------


def test_a_network_failure_offers_resend_with_the_same_parent(chat: ChatPage) -> None:
    ask(chat, "q1")
    _, a1 = chat.stored()["messages"]
    calls: list[str] = []

    def drop_once(route: Route) -> None:
        calls.append(route.request.url)
        if len(calls) == 1:
            route.abort("connectionreset")
        else:
            route.continue_()

    chat.page.route("**/api/chat", drop_once)
    chat.send(echo("q2"))
    assert chat.wait_status() == "error"
    error = chat.answer().locator(".msg-error")
    expect(error.locator(".err-text")).to_contain_text("The connection failed")
    expect(chat.questions().last.locator(".unsent-badge")).to_be_visible()
    expect(chat.answer().locator(".regenerate")).to_be_hidden()
    expect(error.locator(".edit-resend")).to_be_visible()
    error.locator(".resend").click()
    assert chat.wait_status() == "complete"
    assert chat.texts() == [echo("q1"), "q1", echo("q2"), "q2"]
    parents = [b.get("parent_id") for b in chat.bodies_to("/api/chat")]
    assert parents == [None, a1["id"], a1["id"]]
    chat.reload()
    assert chat.texts() == [echo("q1"), "q1", echo("q2"), "q2"]


def test_a_conflict_with_another_tabs_answer_changes_nothing(new_page: PageFactory) -> None:
    """While tab B's answer streams, tab A's Regenerate, Edit and Send are refused (409): A says
    why, shows what it showed, and keeps what was typed."""
    a = new_page().open()
    ask(a, "q1")
    conversation = a.conversation_id()
    b = new_page().open(f"/#/c/{conversation}")
    expect(b.answers()).to_have_count(1)
    b.send("long [[mock tokens=800 rate=40]]")
    b.wait_text(10)
    shown = a.shown_ids()
    toast = a.page.locator("#toast")
    conflict = "An answer is still being written in this conversation, perhaps in another tab."

    a.answer().locator(".regenerate").click()
    expect(toast).to_contain_text(conflict)
    expect(a.answer()).to_have_attribute("data-status", "complete")
    assert a.shown_ids() == shown and a.texts() == [echo("q1"), "q1"]

    a.questions().first.locator(".edit").click()
    a.questions().first.locator(".edit-input").fill("changed")
    a.questions().first.locator(".edit-input").press("Enter")
    expect(a.questions().first.locator(".edit-input")).to_have_value("changed")  # open again
    assert a.shown_ids() == shown
    a.questions().first.locator(".edit-input").press("Escape")

    a.send("next question")
    expect(a.input).to_have_value("next question")
    assert a.shown_ids() == shown and a.texts() == [echo("q1"), "q1"]
    expect(a.page.locator("#thread [data-unsent]")).to_have_count(0)
    assert len(a.tree()) == 4  # q1, its answer, B's question and B's answer
    b.stop_button.click()
    assert b.wait_status() == "stopped"
