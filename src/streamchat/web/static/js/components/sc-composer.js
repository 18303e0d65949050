// <sc-composer>: the message input. Enter sends, Shift+Enter (or Enter while an IME is composing)
// adds a new line. While an answer streams the Send button becomes Stop; the textarea stays
// editable throughout. Events: sc-send {text}, sc-stop.

import { t } from "../i18n.js";

export class ScComposer extends HTMLElement {
  connectedCallback() {
    if (this.form) return;
    this.innerHTML = `
      <form class="composer">
        <textarea id="composer-input" class="composer-input" rows="1"
          data-i18n-attr="aria-label:inputLabel"></textarea>
        <button type="submit" class="btn primary send" data-i18n="send"></button>
        <button type="button" class="btn danger stop" data-i18n="stop" hidden></button>
      </form>`;
    this.form = this.querySelector("form");
    this.input = this.querySelector("textarea");
    this.sendButton = this.querySelector(".send");
    this.stopButton = this.querySelector(".stop");
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
        event.preventDefault();
        this.submit();
      }
    });
    this.stopButton.addEventListener("click", () => {
      this.dispatchEvent(new CustomEvent("sc-stop", { bubbles: true }));
    });
    this.translate();
  }

  translate() {
    for (const el of this.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    // no keyboard shortcuts to tell of on a touch screen
    const touch = navigator.maxTouchPoints > 0 || globalThis.matchMedia?.("(pointer: coarse)").matches;
    this.input.placeholder = t(touch ? "inputPlaceholderTouch" : "inputPlaceholder");
    this.input.setAttribute("aria-label", t("inputLabel"));
  }

  submit() {
    if (this.busy) return;
    const text = this.input.value;
    if (!text.trim()) return;
    this.input.value = "";
    this.dispatchEvent(new CustomEvent("sc-send", { bubbles: true, detail: { text } }));
  }

  /** Put back a question the server did not take, unless something new was typed meanwhile. */
  restore(text) {
    if (!this.input.value.trim()) this.input.value = text;
  }

  /** Streaming: show Stop instead of Send (the input stays usable). */
  set busy(value) {
    this._busy = Boolean(value);
    const hadFocus = this.contains(document.activeElement);
    this.sendButton.hidden = this._busy;
    this.stopButton.hidden = !this._busy;
    if (hadFocus && document.activeElement === document.body) this.input.focus();
  }

  get busy() {
    return this._busy ?? false;
  }

  focus() {
    this.input.focus();
  }
}

customElements.define("sc-composer", ScComposer);
