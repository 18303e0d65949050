// <sc-message>: one bubble. A question shows plain text (with an inline editor); an answer shows
// the thinking block, the markdown body, the error with Retry (or, for a question the server
// never stored, Resend and Edit & resend), the stopped/incomplete badge and the stats line. A
// message with versions (`sibling_ids`) shows `‹ n/m ›`. An answer is drawn from a Run while it
// streams (bindRun) or from the stored message (showStored); both go through draw(), batched to
// one update per animation frame, and the same MarkdownStream.
//
// This module holds the bubble's markup and that drawing; its other jobs are methods of
// ScMessage kept in their own modules: sc-message-thinking.js (the wait before the first token,
// the thinking box), sc-message-actions.js (the foot and the error box at an answer's end, what
// each button does, a question's editor), sc-message-versions.js (‹ n/m ›).
//
// Events (bubbling): sc-regenerate, sc-edit {text}, sc-retry {error}, sc-resend, sc-edit-resend,
// sc-version {id, step}, sc-rendered.

import { t } from "../i18n.js";
import { MarkdownStream } from "../markdown-stream.js";
import { drawAnswerParts } from "../tools.js";
import { actions } from "./sc-message-actions.js";
import { thinking } from "./sc-message-thinking.js";
import { VERSIONS, versions } from "./sc-message-versions.js";

const ASSISTANT = `
  <div class="msg-head"><span class="msg-role" data-i18n="assistant"></span><span class="msg-model"></span></div>
  <details class="thinking" hidden><summary><span class="thinking-label"></span></summary><div class="thinking-text"></div></details>
  <div class="msg-wait" hidden><span class="wait-dots" aria-hidden="true"><i></i><i></i><i></i></span><span class="wait-text"></span></div>
  <div class="msg-body md" aria-live="polite"></div>
  <div class="msg-error" role="alert" hidden>
    <strong class="err-title" data-i18n="errorTitle"></strong>
    <span class="err-text"></span>
    <span class="err-actions">
      <button type="button" class="btn edit-resend" data-i18n="editResend" hidden></button>
      <button type="button" class="btn resend" data-i18n="resend" hidden></button>
      <button type="button" class="btn retry" data-i18n="retry"></button>
    </span>
  </div>
  <div class="msg-foot">${VERSIONS}
    <span class="badge status-badge" hidden></span>
    <span class="stats"></span>
    <span class="actions">
      <button type="button" class="link-btn copy-answer" data-i18n="copyAnswer"></button>
      <button type="button" class="link-btn regenerate" data-i18n="regenerate"></button>
    </span>
  </div>`;

const USER = `
  <div class="msg-head"><span class="msg-role" data-i18n="you"></span><span class="badge unsent-badge" data-i18n="notSent" hidden></span></div>
  <div class="msg-body plain"></div>
  <div class="msg-foot">${VERSIONS}<span class="actions">
    <button type="button" class="link-btn edit" data-i18n="edit"></button>
  </span></div>`;

/** @import { Message } from "../api-types.js" */
/** @import { Run } from "../runs.js" */
/** @import { Slicer } from "../slices.js" */

/** Its fields and the methods of the modules above: tools/js/types/page.d.ts. */
export class ScMessage extends HTMLElement {
  /**
   * Build the bubble for `role` ("user" or "assistant"); call once, after createElement.
   * @param {"user" | "assistant"} role
   * @returns {this}
   */
  setup(role) {
    this.kind = role;
    this.className = `msg msg-${role}`;
    this.setAttribute("role", "article");
    this.innerHTML = role === "user" ? USER : ASSISTANT; // static templates, no data
    this.labels = [.../** @type {NodeListOf<HTMLElement>} */ (this.querySelectorAll("[data-i18n]"))]; // the body is empty now
    for (const el of this.labels) el.textContent = t(/** @type {string} */ (el.dataset.i18n));
    this.body = /** @type {HTMLElement} */ (this.querySelector(".msg-body"));
    // looked up once: a querySelector for what follows the body would walk the whole answer
    this.els = /** @type {BubbleParts} */ ({});
    const parts = ["msg-wait", "wait-text", "thinking-text", "msg-model", "thinking", "thinking-label", "msg-error", "err-text", "retry", "resend", "edit-resend", "status-badge", "stats", "versions", "version-prev", "version-count", "version-next", "unsent-badge"];
    for (const name of /** @type {(keyof BubbleParts & string)[]} */ (parts)) {
      this.els[name] = /** @type {any} */ (this.querySelector(`.${name}`)); // each part's own element type
    }
    this.addEventListener("click", (event) => this.onClick(event));
    if (role === "assistant") {
      this.stream = new MarkdownStream(this.body);
      this.thinkingText = document.createTextNode("");
      /** @type {Element} */ (this.querySelector(".thinking-text")).append(this.thinkingText);
      this.onChange = (/** @type {Event} */ event) => this.changed(/** @type {CustomEvent<string>} */ (event).detail);
    }
    this.messageId = null;
    this.siblingIds = [];
    this.locked = false;
    return this;
  }

  /** The language changed: redraw every label in place (the body and the scroll stay). */
  retranslate() {
    for (const el of this.labels) el.textContent = t(/** @type {string} */ (el.dataset.i18n));
    for (const el of this.body.querySelectorAll(".code-copy")) el.textContent = t("copy");
    this.drawVersions();
    if (this.kind !== "assistant" || !this.source) return;
    const src = this.source;
    if (src.reasoning) this.drawReasoning(src);
    if (this.drawn.finished) {
      this.drawEnd(src, false); // a countdown under way goes on as it is
    } else {
      this.drawReconnecting(src);
    }
    drawAnswerParts(this, src);
  }

  // -- questions ------------------------------------------------------------------------------

  /** @param {string} text @param {Message | null} [message] the stored question */
  showUser(text, message = null) {
    this.text = text;
    this.body.textContent = text;
    if (message) this.setMessage(message);
  }

  /** A question (or its error) the server never stored: refused, or no connection. */
  markUnsent() {
    this.dataset.unsent = "";
    if (this.els["unsent-badge"]) this.els["unsent-badge"].hidden = false;
  }

  get unsent() {
    return "unsent" in this.dataset;
  }

  // -- answers --------------------------------------------------------------------------------

  /** Follow a live Run: draw what it already holds at once, then once per frame as it changes. */
  /** @param {Run} run */
  bindRun(run) {
    this.unbind();
    this.run = run;
    this.source = run;
    this.messageId = run.id;
    this.resetDrawn();
    run.addEventListener("change", this.onChange);
    this.draw(); // the bubble says "streaming" as soon as it is in the thread
  }

  unbind() {
    this.run?.removeEventListener("change", this.onChange);
    this.run = null;
  }

  /**
   * Draw a stored message (GET /api/conversations/{id}). With a `slicer`, the body is rendered
   * by the slicer's jobs (from its end, a chunk at a time) and everything else at once.
   * @param {Message} message
   * @param {Slicer | null} [slicer]
   */
  showStored(message, slicer = null) {
    this.unbind();
    this.setMessage(message);
    this.source = {
      id: message.id,
      text: message.content || "",
      reasoning: message.reasoning || "",
      model: message.model,
      status: message.status,
      finished: message.status !== "streaming",
      usage: message.usage,
      error: message.error,
      done: { ttft_ms: message.ttft_ms, total_ms: message.total_ms, finish_reason: message.finish_reason },
      timed: message.reasoning_ms != null, // how long it thought is stored (issue 14 item 6)
      reasoningMs: message.reasoning_ms ?? null,
    };
    this.resetDrawn();
    if (slicer) {
      const job = this.stream.stored(this.source.text);
      this.drawn.text = this.source.text.length;
      this.drawn.stored = true;
      slicer.add((/** @type {number} */ deadline) => {
        const done = job(deadline);
        this.dispatchEvent(new CustomEvent("sc-rendered", { bubbles: true }));
        return done;
      });
    }
    this.draw();
  }

  disconnectedCallback() {
    this.unbind(); // a countdown carries on: the bubble may be put back (a refused action)
  }

  resetDrawn() {
    this.stream.reset();
    this.drawn = { text: -1, reasoning: 0, finished: false, collapsed: false, stored: false };
    this.thinkingText.data = "";
  }

  /** @param {string} type what the Run's "change" said */
  changed(type) {
    if (type === "replace") this.resetDrawn();
    if (type === "id") this.messageId = /** @type {Run} */ (this.run).id;
    this.schedule();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  draw() {
    const src = this.source;
    if (!src) return;
    const started = performance.now();
    const before = this.drawn.text;
    this.messageId = src.id;
    // write only what changed: every write to the bubble invalidates style below it
    setIfChanged(this.dataset, "status", src.stopping && !src.finished ? "stopping" : src.status);
    const model = this.els["msg-model"];
    if (model.textContent !== (src.model || "")) model.textContent = src.model || "";
    this.drawWaiting(src);
    this.drawReasoning(src);
    const textChanged = src.text.length !== this.drawn.text || (src.finished && !this.drawn.finished);
    if (textChanged && !this.drawn.stored) {
      this.stream.update(src.text, src.finished);
      this.drawn.text = src.text.length;
    }
    if (this.body.getAttribute("aria-busy") !== String(!src.finished)) {
      this.body.setAttribute("aria-busy", String(!src.finished));
    }
    if (src.finished && !this.drawn.finished) {
      this.drawn.finished = true;
      this.drawEnd(src);
    } else if (!src.finished) {
      this.drawReconnecting(src);
    }
    drawAnswerParts(this, src); // tool chips, Continue (tools.js)
    const ms = performance.now() - started;
    globalThis.streamchatProbe?.rendered(src.lastId ?? 0, ms, src.text.length - Math.max(before, 0));
    this.dispatchEvent(new CustomEvent("sc-rendered", { bubbles: true }));
  }
}

Object.assign(ScMessage.prototype, versions, thinking, actions);

/** @param {DOMStringMap} dataset @param {string} key @param {string} value */
function setIfChanged(dataset, key, value) {
  if (dataset[key] !== value) dataset[key] = value;
}

customElements.define("sc-message", ScMessage);
