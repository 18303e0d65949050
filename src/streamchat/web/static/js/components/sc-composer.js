// <sc-composer>: the message input. Enter sends, Shift+Enter (or Enter while an IME is composing)
// adds a new line. While an answer streams the Send button becomes Stop; the textarea stays
// editable throughout. Files are attached with the button (a file input), by paste or by
// dropping them (on the composer; the controller forwards drops on the thread to addFiles):
// they upload at once, shown in the tray above the input with their progress and a ✕. The
// web-search and thinking switches are shown when the selected model offers them (offer()).
// Events: sc-send {text, files, switches}, sc-stop.

import { drawTray } from "../attachment-chips.js";
import { Tray } from "../attachments.js";
import { t } from "../i18n.js";

/** @import { Abilities, FileInfo } from "../api-types.js" */

export class ScComposer extends HTMLElement {
  connectedCallback() {
    if (/** @type {{form?: HTMLFormElement}} */ (this).form) return; // built already
    this.innerHTML = `
      <form class="composer">
        <ul class="att-list composer-files" hidden></ul>
        <p class="composer-warning" role="alert" hidden></p>
        <div class="composer-row">
          <button type="button" class="icon-btn attach" data-i18n-attr="aria-label:attach;title:attach">
            <svg class="icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M21 11.5l-8.6 8.6a5.5 5.5 0 0 1-7.8-7.8l8.6-8.6a3.7 3.7 0 0 1 5.2 5.2l-8.6 8.6a1.8 1.8 0 0 1-2.6-2.6l7.9-7.9"/></svg></button>
          <input type="file" class="attach-input" multiple hidden tabindex="-1">
          <textarea id="composer-input" class="composer-input" rows="1"
            data-i18n-attr="aria-label:inputLabel"></textarea>
          <button type="submit" class="btn primary send" data-i18n="send"></button>
          <button type="button" class="btn danger stop" data-i18n="stop" hidden></button>
        </div>
        <div class="composer-switches" hidden>
          <button type="button" class="switch switch-web" aria-pressed="false" hidden>
            <svg class="icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><circle cx="12" cy="12" r="9"/><path d="M3 12h18M12 3a14 14 0 0 1 0 18M12 3a14 14 0 0 0 0 18"/></svg><span data-i18n="webSearch"></span></button>
          <button type="button" class="switch switch-thinking" aria-pressed="false" hidden>
            <svg class="icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M9 18h6M10 21h4M12 3a6 6 0 0 0-3.5 10.9c.6.5 1 1.2 1 2.1h5c0-.9.4-1.6 1-2.1A6 6 0 0 0 12 3z"/></svg><span data-i18n="thinkingSwitch"></span></button>
        </div>
      </form>`;
    /** @param {string} selector @returns {any} the element, which the template has */
    const $ = (selector) => this.querySelector(selector);
    /** @type {HTMLFormElement} */
    this.form = $("form");
    /** @type {HTMLTextAreaElement} */
    this.input = $("textarea");
    /** @type {HTMLButtonElement} */
    this.sendButton = $(".send");
    /** @type {HTMLButtonElement} */
    this.stopButton = $(".stop");
    /** @type {HTMLInputElement} */
    this.fileInput = $(".attach-input");
    /** @type {HTMLUListElement} */
    this.list = $(".composer-files");
    /** @type {HTMLElement} */
    this.warning = $(".composer-warning");
    /** @type {{web_search: HTMLButtonElement, thinking: HTMLButtonElement}} */
    this.switches = { web_search: $(".switch-web"), thinking: $(".switch-thinking") };
    /** @type {Partial<Abilities> & {id?: string}} what the selected model offers */
    this.caps = { vision: false, web_search: false, thinking: null };
    /** @type {Switches} the conversation's switches, and the user's clicks */
    this.values = {};
    /** @type {Tray} */
    this.tray = new Tray();
    this.tray.addEventListener("change", () => this.drawFiles());
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
    $(".attach").addEventListener("click", () => this.fileInput.click());
    this.fileInput.addEventListener("change", () => {
      this.addFiles(this.fileInput.files);
      this.fileInput.value = "";
    });
    this.input.addEventListener("paste", (event) => {
      const files = [...(event.clipboardData?.files ?? [])];
      if (!files.length) return;
      if (!/** @type {DataTransfer} */ (event.clipboardData).getData("text/plain")) event.preventDefault(); // a screenshot: no text to paste
      this.addFiles(files);
    });
    this.list.addEventListener("click", (event) => {
      const remove = /** @type {HTMLElement | null} */ (/** @type {Element} */ (event.target).closest(".att-remove"));
      if (!remove) return;
      this.tray.remove(Number(remove.dataset.key));
      this.input.focus(); // the ✕ is gone: the focus goes back to the input, not <body>
    });
    for (const [name, button] of Object.entries(this.switches)) {
      button.addEventListener("click", () => {
        this.values[/** @type {keyof Switches} */ (name)] = button.getAttribute("aria-pressed") !== "true";
        this.drawSwitches();
      });
    }
    dropZone(this, (files) => this.addFiles(files));
    this.translate();
  }

  // @ts-expect-error -- a method in place of HTMLElement's `translate` attribute (a boolean),
  // which the page never uses; main.js and the language picker call it
  translate() {
    /** @type {NodeListOf<HTMLElement>} */
    const texts = this.querySelectorAll("[data-i18n]");
    for (const el of texts) el.textContent = t(/** @type {string} */ (el.dataset.i18n));
    const attach = /** @type {HTMLElement} */ (this.querySelector(".attach"));
    attach.setAttribute("aria-label", t("attach"));
    attach.title = t("attach");
    // no keyboard shortcuts to tell of on a touch screen
    const touch = navigator.maxTouchPoints > 0 || globalThis.matchMedia?.("(pointer: coarse)").matches;
    this.input.placeholder = t(touch ? "inputPlaceholderTouch" : "inputPlaceholder");
    this.input.setAttribute("aria-label", t("inputLabel"));
    this.drawFiles();
  }

  /** @param {FileList | File[] | null} files */
  addFiles(files) {
    if (files?.length) this.tray.add([...files]);
  }

  /**
   * What the selected model offers (capabilities.js) and the conversation's switches.
   * @param {Partial<Abilities> & {id?: string}} caps
   * @param {Switches} values
   */
  offer(caps, values) {
    this.caps = caps;
    this.values = { ...values };
    this.drawSwitches();
    this.drawFiles();
  }

  /** The switches to send: only those the model offers and the user (or the conversation) set. */
  get switchValues() {
    /** @type {Switches} */
    const sent = {};
    if (this.caps.web_search && this.values.web_search !== undefined) sent.web_search = this.values.web_search;
    if (this.caps.thinking && this.values.thinking !== undefined) sent.thinking = this.values.thinking;
    return sent;
  }

  drawSwitches() {
    const { web_search: web, thinking } = this.switches;
    web.hidden = !this.caps.web_search;
    thinking.hidden = !this.caps.thinking;
    web.setAttribute("aria-pressed", String(Boolean(this.values.web_search)));
    // unset: the model's own default (Kimi's thinking models think unless told not to)
    thinking.setAttribute("aria-pressed", String(this.values.thinking ?? this.caps.thinking === "kimi"));
    /** @type {HTMLElement} */ (this.querySelector(".composer-switches")).hidden = web.hidden && thinking.hidden;
  }

  drawFiles() {
    if (!this.tray) return;
    drawTray(this.list, this.tray);
    const warning = this.tray.hasImage && !this.caps.vision ? t("cannotSee", { model: this.caps.id ?? "" }) : "";
    this.warn(warning);
  }

  /** @param {string} text "": none */
  warn(text) {
    if (this.warning.textContent !== text) this.warning.textContent = text;
    this.warning.hidden = !text;
  }

  submit() {
    if (this.busy) return;
    const text = this.input.value;
    if (!text.trim()) return;
    if (this.tray.hasImage && !this.caps.vision) {
      this.warn(""); // said again, for the screen reader too
      return void requestAnimationFrame(() => this.warn(t("cannotSee", { model: this.caps.id ?? "" })));
    }
    if (this.tray.uploading) return this.warn(t("attachWait"));
    const files = this.tray.files;
    this.input.value = "";
    this.tray.clear();
    this.dispatchEvent(new CustomEvent("sc-send", { bubbles: true, detail: { text, files, switches: this.switchValues } }));
  }

  /** Put back a question the server did not take, unless something new was typed meanwhile. */
  /** @param {string} text @param {FileInfo[]} [files] */
  restore(text, files = []) {
    if (this.input.value.trim()) return;
    this.input.value = text;
    this.tray.restore(files);
  }

  /** Streaming: show Stop instead of Send (the input stays usable). */
  /** @param {boolean} value */
  set busy(value) {
    /** @type {boolean | undefined} */
    this._busy = Boolean(value);
    const hadFocus = this.contains(document.activeElement);
    this.sendButton.hidden = this._busy;
    this.stopButton.hidden = !this._busy;
    if (hadFocus && document.activeElement === document.body) this.input.focus();
  }

  /** @returns {boolean} */
  get busy() {
    return this._busy ?? false;
  }

  focus() {
    this.input.focus();
  }
}

/**
 * Files dropped on `target` go to `take(files)`; `target` is marked data-dropping meanwhile.
 * @param {Pick<HTMLElement, "addEventListener" | "dataset">} target
 * @param {(files: FileList) => void} take
 */
export function dropZone(target, take) {
  /** @param {DragEvent} event */
  const carriesFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes("Files");
  let depth = 0;
  target.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) return;
    depth++;
    target.dataset.dropping = "";
  });
  target.addEventListener("dragleave", () => {
    if (--depth <= 0) (depth = 0), delete target.dataset.dropping;
  });
  target.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    /** @type {DataTransfer} */ (event.dataTransfer).dropEffect = "copy";
  });
  target.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.stopPropagation();
    depth = 0;
    delete target.dataset.dropping;
    take(/** @type {DataTransfer} */ (event.dataTransfer).files);
  });
}

// @ts-expect-error -- its translate() (see there) is not HTMLElement's boolean attribute
customElements.define("sc-composer", ScComposer);
