"""Issue 13 in the page, attachments (Chromium against streamchat and the moonshot mock, which
speaks Kimi's wire: vision models, /v1/files, $web_search, partial mode): an image and a PDF
attached by the button, by paste and by drag-and-drop, asked about (what reached the mock and
what the page shows), removal before sending, upload progress, an image refused for a model that
cannot see, the files after a reload and in the exports. The switches, tool chips and Continue
are in test_page_kimi_answers.py."""

from __future__ import annotations

import base64
import io
import json
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from playwright.sync_api import FilePayload, Page, expect

from streamchat.settings import ModelConfig, ProviderConfig
from tests.browser.chat_page import ChatPage
from tests.browser.conftest import PageFactory
from tests.conftest import Server, ServerFactory
from tests.files import samples
from tests.harness import MockUpstream, mock_upstream_thread

pytestmark = pytest.mark.browser

VISION = "moonshot-v1-8k-vision-preview"
TEXT_ONLY = "moonshot-v1-8k"
THINKING = "kimi-k2.5"
PDF_WORD = "pineapple"


@pytest.fixture(scope="module")
def kimi_mock() -> Iterator[MockUpstream]:
    with mock_upstream_thread("moonshot") as mock:
        yield mock


@pytest.fixture
def server(make_server: ServerFactory, kimi_mock: MockUpstream) -> Server:
    """streamchat with one provider, "kimi" (the kimi preset), served by the moonshot mock."""
    kimi_mock.reset()
    provider = ProviderConfig(
        name="kimi",
        preset="kimi",
        base_url=kimi_mock.url,
        api_key=kimi_mock.api_key,  # type: ignore[arg-type]
        models=[ModelConfig(id=m) for m in (TEXT_ONLY, VISION, THINKING)],
        list_models=False,
    )
    return make_server(providers=[provider], default_model=VISION)


def chat_bodies(mock: MockUpstream) -> list[dict[str, Any]]:
    return [r["body"] for r in mock.log() if r["path"].endswith("/chat/completions")]


def question_sent(mock: MockUpstream) -> dict[str, Any]:
    (body,) = chat_bodies(mock)
    message: dict[str, Any] = body["messages"][-1]
    assert message["role"] == "user"
    return message


def documents_sent(mock: MockUpstream) -> list[str]:
    (body,) = chat_bodies(mock)
    return [m["content"] for m in body["messages"] if m["role"] == "system"]


def choose(chat: ChatPage, model: str) -> None:
    chat.page.select_option("#model", model)
    expect(chat.page.locator("#model")).to_have_value(model)


def put_files(page: Page, how: str, files: list[tuple[str, str, bytes]]) -> None:
    """Attach `files` ((name, type, bytes)) the way a user does: `paste` into the input, `drop`
    on the thread, or through the attach button's file chooser."""
    if how == "button":
        with page.expect_file_chooser() as chooser:
            page.locator("sc-composer .attach").click()
        payloads: list[FilePayload] = [
            {"name": n, "mimeType": t, "buffer": data} for n, t, data in files
        ]
        chooser.value.set_files(payloads)
        return
    encoded = [[n, t, base64.b64encode(data).decode()] for n, t, data in files]
    page.evaluate(
        """([how, files]) => {
             const dt = new DataTransfer();
             for (const [name, type, b64] of files) {
               const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
               dt.items.add(new File([bytes], name, { type }));
             }
             if (how === "paste") {
               const input = document.querySelector("#composer-input");
               input.focus();
               const init = { clipboardData: dt, bubbles: true, cancelable: true };
               input.dispatchEvent(new ClipboardEvent("paste", init));
             } else {
               const zone = document.querySelector("#messages");
               for (const type of ["dragenter", "dragover", "drop"]) {
                 const init = { dataTransfer: dt, bubbles: true, cancelable: true };
                 zone.dispatchEvent(new DragEvent(type, init));
               }
             }
           }""",
        [how, encoded],
    )


def tray(page: Page) -> Any:
    return page.locator("sc-composer .composer-files .att")


def wait_uploaded(page: Page, count: int) -> None:
    expect(page.locator('sc-composer .composer-files .att[data-status="ready"]')).to_have_count(
        count
    )


@pytest.mark.parametrize("how", ["button", "paste", "drop"])
def test_an_image_and_a_pdf_attached_and_asked_about(
    new_page: PageFactory, kimi_mock: MockUpstream, how: str
) -> None:
    chat = new_page().open()
    page = chat.page
    choose(chat, VISION)
    image = samples.png(6, 4)
    put_files(
        page,
        how,
        [("shot.png", "image/png", image), ("notes.pdf", "application/pdf", samples.pdf())],
    )
    wait_uploaded(page, 2)
    # a thumbnail for the image (from the server once uploaded), a chip for the document
    thumb = tray(page).locator("img.att-thumb")
    expect(thumb).to_have_count(1)
    expect(thumb).to_have_attribute("src", re.compile(r"^/api/files/file"))
    expect(tray(page).filter(has_text="notes.pdf")).to_have_count(1)
    chat.send("What do these show?")
    chat.wait_status("complete")

    sent = question_sent(kimi_mock)
    assert sent["content"][0] == {"type": "text", "text": "What do these show?"}
    url = "data:image/png;base64," + base64.b64encode(image).decode()
    assert sent["content"][1] == {"type": "image_url", "image_url": {"url": url}}
    (document,) = documents_sent(kimi_mock)
    assert PDF_WORD in document and "notes.pdf" in document
    # the question shows its files; the tray is empty again
    question = chat.questions().last
    expect(question.locator(".msg-files img.att-thumb")).to_have_attribute("alt", "shot.png")
    expect(question.locator(".msg-files .att-doc")).to_contain_text("notes.pdf")
    expect(tray(page)).to_have_count(0)
    loaded = question.locator("img.att-thumb").evaluate("(img) => img.complete && img.naturalWidth")
    assert loaded == 6  # the image itself, served by /api/files/{id}


def test_a_file_removed_before_sending_is_deleted_and_not_sent(
    new_page: PageFactory, kimi_mock: MockUpstream
) -> None:
    chat = new_page().open()
    page = chat.page
    choose(chat, VISION)
    put_files(
        page,
        "paste",
        [
            ("keep.png", "image/png", samples.png()),
            ("drop.pdf", "application/pdf", samples.pdf("banana")),
        ],
    )
    wait_uploaded(page, 2)
    removed_id = page.evaluate(
        "() => document.querySelector('sc-composer').tray.items"
        ".find((i) => i.name === 'drop.pdf').file.id"
    )
    page.locator("sc-composer .att-remove[aria-label='Remove drop.pdf']").click()
    expect(tray(page)).to_have_count(1)
    expect(chat.input).to_be_focused()
    page.wait_for_timeout(200)
    assert chat.api("GET", f"/api/files/{removed_id}/meta").status_code == 404  # deleted
    chat.send("only the picture")
    chat.wait_status("complete")
    assert documents_sent(kimi_mock) == []
    assert [p["type"] for p in question_sent(kimi_mock)["content"]] == ["text", "image_url"]
    expect(chat.questions().last.locator(".msg-files .att")).to_have_count(1)


def noise_png(side: int = 700) -> bytes:
    """A PNG that does not compress (about 1.4 MB): its upload takes a while when throttled."""
    rng = random.Random(13)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3)).save(out, "PNG")
    return out.getvalue()


def test_upload_progress_is_shown(new_page: PageFactory) -> None:
    chat = new_page().open()
    page = chat.page
    choose(chat, VISION)
    page.evaluate(
        """() => {
             window.__progress = [];
             new MutationObserver(() => {
               for (const bar of document.querySelectorAll("sc-composer .att-progress")) {
                 window.__progress.push([bar.value, bar.getAttribute("aria-label")]);
               }
             }).observe(document.querySelector("sc-composer"),
                        { subtree: true, childList: true, attributes: true });
           }"""
    )
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 400_000},
    )
    big = noise_png()
    put_files(page, "button", [("big.png", "image/png", big)])
    bar = tray(page).locator("progress.att-progress")
    expect(bar).to_be_visible()
    expect(chat.send_button).to_be_visible()
    chat.send("too early")
    expect(page.locator("sc-composer .composer-warning")).to_contain_text("finish uploading")
    wait_uploaded(page, 1)
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    seen = page.evaluate("window.__progress")
    between = [value for value, _ in seen if 0 < value < 1]
    assert between, seen[:5]
    assert any("Uploading big.png:" in label for _, label in seen)
    expect(bar).to_have_count(0)
    assert chat.input.input_value() == "too early"  # nothing was sent meanwhile


def test_an_image_for_a_model_that_cannot_see_is_refused_clearly(
    new_page: PageFactory, kimi_mock: MockUpstream
) -> None:
    chat = new_page().open()
    page = chat.page
    choose(chat, TEXT_ONLY)
    put_files(page, "drop", [("shot.png", "image/png", samples.png())])
    warning = page.locator("sc-composer .composer-warning")
    expect(warning).to_contain_text(f"The model {TEXT_ONLY} cannot see images")
    chat.send("what is it?")
    expect(warning).to_be_visible()
    assert chat.input.input_value() == "what is it?"
    expect(chat.answers()).to_have_count(0)
    # a model that can see: the warning goes, the question goes
    choose(chat, VISION)
    expect(warning).to_be_hidden()
    # the server refuses too: with the page told the model can see, its 400 is shown
    page.route(
        "**/api/chat",
        lambda route: route.continue_(
            post_data=json.dumps(
                {**json.loads(route.request.post_data or "{}"), "model": TEXT_ONLY}
            )
        ),
    )
    chat.input.press("Enter")
    chat.wait_status("error")
    error = chat.answer().locator(".err-text")
    expect(error).to_contain_text(TEXT_ONLY)
    expect(error).to_contain_text("shot.png")
    expect(chat.questions().last).to_have_attribute("data-unsent", "")
    assert chat_bodies(kimi_mock) == []  # nothing reached the provider


def test_attachments_after_a_reload_and_in_the_exports(
    new_page: PageFactory, kimi_mock: MockUpstream
) -> None:
    chat = new_page(accept_downloads=True).open()
    page = chat.page
    choose(chat, VISION)
    put_files(
        page,
        "button",
        [
            ("chart.png", "image/png", samples.png(5, 5)),
            ("report.pdf", "application/pdf", samples.pdf()),
        ],
    )
    wait_uploaded(page, 2)
    chat.send("summarise [[mock tokens=3]]")
    chat.wait_status("complete")
    chat.send("and again, without files [[mock tokens=2]]")
    chat.wait_status("complete")
    chat.reload()
    questions = chat.questions()
    expect(questions).to_have_count(2)
    first = questions.first.locator(".msg-files .att")
    expect(first).to_have_count(2)
    expect(first.locator("img")).to_have_attribute("alt", "chart.png")
    expect(questions.first.locator(".att-doc")).to_contain_text("report.pdf")
    expect(questions.last.locator(".msg-files")).to_have_count(0)
    href = questions.first.locator(".att-doc a.att-open").get_attribute("href")
    assert href and href.startswith("/api/files/")

    page.locator("#settings-btn").click()
    with page.expect_download() as markdown:
        page.locator("sc-settings .export-md").click()
    text = Path(markdown.value.path()).read_text(encoding="utf-8")
    assert "- 📎 chart.png (image/png," in text and "- 📎 report.pdf (application/pdf," in text
    assert text.index("report.pdf") < text.index("and again")
    with page.expect_download() as exported:
        page.locator("sc-settings .export-json").click()
    data = json.loads(Path(exported.value.path()).read_text(encoding="utf-8"))
    first_q = data["messages"][0]
    assert [f["name"] for f in first_q["attachments"]] == ["chart.png", "report.pdf"]
    assert "attachments" not in data["messages"][2]
