"""Math (issue 14 item 3): $…$, $$…$$, \\(…\\) and \\[…\\] rendered by the vendored KaTeX as
MathML, only once a formula is complete, and sanitised: nothing from a formula reaches the DOM
but MathML the allowlist keeps."""

from __future__ import annotations

import pytest
from playwright.sync_api import Dialog, expect

from tests.browser.chat_page import ChatPage
from tests.browser.conftest import PageFactory

pytestmark = pytest.mark.browser

FORMULAS = (
    "Euler: $e^{i\\pi}+1=0$ and \\(a^2+b^2=c^2\\), prices $5 and $10 stay text.\n\n"
    "$$\\int_0^1 x\\,dx = \\frac{1}{2}$$\n\n"
    "\\[\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}\\]\n\n"
    "Broken: $\\frac{1}{$ stays its source."
)


def test_the_four_delimiters_render_as_mathml(chat: ChatPage) -> None:
    chat.send(FORMULAS + " [[mock text=echo]]")
    chat.wait_status("complete")
    body = chat.answer().locator(".msg-body")
    expect(body.locator("math")).to_have_count(4)
    expect(body.locator(".math-display math")).to_have_count(2)
    displays = body.locator(".math-display math").evaluate_all(
        "(els) => els.map((el) => getComputedStyle(el).display)"
    )
    assert displays == ["block math", "block math"]
    assert body.locator("math mfrac").count() == 2
    assert body.locator("math msup").count() >= 3
    # the TeX source is not shown a second time (KaTeX's annotation is dropped)
    assert body.locator("annotation, semantics").count() == 0
    text = body.inner_text()
    assert "$5 and $10" in text
    assert "\\frac" not in text.replace("\\frac{1}{", "", 1)
    expect(body.locator("code.math-error")).to_have_text("\\frac{1}{")
    # laid out by the browser: a display formula is wider than tall, and centred in its line
    box = body.locator(".math-display").first.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 10
    # the same after a reload (the stored path)
    chat.reload()
    expect(chat.answer().locator(".msg-body math")).to_have_count(4)


def test_a_formula_split_across_deltas_renders_once_complete(chat: ChatPage) -> None:
    # echo streams the question word by word: "$\\frac{a}{b}" has no closing $ for a while
    chat.send("see $\\frac{a}{b} + c_1 + c_2 + c_3 + c_4 + c_5$ done [[mock text=echo rate=8]]")
    seen = chat.answer().evaluate(
        """(el) => new Promise((resolve) => {
             const states = [];
             const check = () => {
               const body = el.querySelector(".msg-body");
               states.push([body.querySelectorAll("math").length,
                            body.textContent.includes("$\\\\frac{a}{b}")]);
               if (el.dataset.status === "complete") resolve(states);
               else requestAnimationFrame(check);
             };
             check();
           })"""
    )
    # first the partial formula as text, never a half formula rendered, then one formula
    assert [0, True] in seen
    first_math = next(i for i, s in enumerate(seen) if s[0] > 0)
    assert all(s == [0, True] or s[0] == 0 for s in seen[:first_math])
    assert all(s == [1, False] for s in seen[first_math:])
    body = chat.answer().locator(".msg-body")
    expect(body.locator("math mfrac")).to_have_count(1)
    expect(body).to_contain_text("done")


HOSTILE = (
    "a $\\href{javascript:alert(1)}{x}$ b $\\url{javascript:alert(2)}$ "
    "c $\\htmlClass{evil}{y}$ d $\\htmlStyle{color:red}{z}$ e $\\htmlData{x=1}{w}$ "
    "f $<img src=x onerror=alert(3)>$ g $$\\style{x}{1}$$ h "
    "$\\text{<script>alert(4)</script>}$ i \\(\\includegraphics{http://evil.test/x.png}\\)"
)


def test_nothing_from_a_formula_reaches_the_dom_unsanitised(new_page: PageFactory) -> None:
    chat = new_page()
    dialogs: list[Dialog] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog)
        dialog.dismiss()

    chat.page.on("dialog", on_dialog)
    chat.open()
    chat.send(HOSTILE + " [[mock text=echo]]")
    chat.wait_status("complete")
    body = chat.answer().locator(".msg-body")
    assert body.locator("script, img, iframe, svg, style, a, [href]").count() == 0
    names = body.evaluate(
        """(el) => [...el.querySelectorAll("*")]
             .flatMap((n) => [...n.attributes].map((a) => a.name))
             .filter((name) => name.startsWith("on") || name === "style" || name.startsWith("data-")
                               || name === "href" || name === "src")"""
    )
    assert names == []
    assert body.locator(".evil").count() == 0
    assert "<script>" not in body.inner_html()
    chat.page.wait_for_timeout(300)
    assert dialogs == []
    assert chat.requests_to("evil.test") == []


REPEATED = (
    "$x^2$ and $x^2$ again, \\(x^2\\) too:\n\n- $x^2$\n- $y_1$\n\n"
    'then <span class="math-slot">0</span> and `$x^2$` as code'
)


def test_a_formula_used_again_renders_each_time(chat: ChatPage) -> None:
    # a formula is rendered and sanitised once, then copied into each place it is used; a slot
    # written by the model is its text, like any raw HTML
    chat.send(REPEATED + " [[mock text=echo rate=40]]")
    chat.wait_status("complete")

    def check() -> None:
        body = chat.answer().locator(".msg-body")
        expect(body.locator("math")).to_have_count(5)
        assert body.locator("math msup").count() == 4
        assert body.locator("li math").count() == 2
        assert body.locator("span.math-slot").count() == 0
        assert '<span class="math-slot">0</span>' in body.inner_text()
        expect(body.locator("code", has_text="$x^2$")).to_have_count(1)

    check()
    chat.reload()  # the stored path, in slices
    check()
