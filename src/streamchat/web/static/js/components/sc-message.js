// <sc-message>: one bubble. A question shows plain text (with an inline editor); an answer shows
// the thinking block, the markdown body, the error with Retry (or, for a question the server
// never stored, Resend and Edit & resend), the stopped/incomplete badge and the stats line. A
// message with versions (`sibling_ids`) shows `‹ n/m ›`. An answer is drawn from a Run while it
// streams (bindRun) or from the stored message (showStored); both go through draw(), batched to
// one update per animation frame, and the same MarkdownStream.
//
// Events (bubbling): sc-regenerate, sc-edit {text}, sc-retry {error}, sc-resend, sc-edit-resend,
// sc-version {id, step}, sc-rendered.

import { errorText } from "../feedback.js";
import { t } from "../i18n.js";
import { MarkdownStream } from "../markdown-stream.js";
import { copyText } from "../clipboard.js";
import { drawAnswerParts } from "../tools.js";

const WAIT_SHOWN = 3; // seconds of waiting before the wait shows how long it has lasted

const VERSIONS = `
    <span class="versions" role="group" hidden>
      <button type="button" class="link-btn version-prev">‹</button>
      <span class="version-count" aria-hidden="true"></span>
      <button type="button" class="link-btn version-next">›</button>
    </span>`;

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

export class ScMessage extends HTMLElement {
  /** Build the bubble for `role` ("user" or "assistant"); call once, after createElement. */
  setup(role) {
    this.kind = role;
    this.className = `msg msg-${role}`;
    this.setAttribute("role", "article");
    this.innerHTML = role === "user" ? USER : ASSISTANT; // static templates, no data
    this.labels = [...this.querySelectorAll("[data-i18n]")]; // the body is empty now
    for (const el of this.labels) el.textContent = t(el.dataset.i18n);
    this.body = this.querySelector(".msg-body");
    // looked up once: a querySelector for what follows the body would walk the whole answer
    this.els = {};
    const parts = ["msg-wait", "wait-text", "thinking-text", "msg-model", "thinking", "thinking-label", "msg-error", "err-text", "retry", "resend", "edit-resend", "status-badge", "stats", "versions", "version-prev", "version-count", "version-next", "unsent-badge"];
    for (const name of parts) {
      this.els[name] = this.querySelector(`.${name}`);
    }
    this.addEventListener("click", (event) => this.onClick(event));
    if (role === "assistant") {
      this.stream = new MarkdownStream(this.body);
      this.thinkingText = document.createTextNode("");
      this.querySelector(".thinking-text").append(this.thinkingText);
      this.onChange = (event) => this.changed(event.detail);
    }
    this.messageId = null;
    this.siblingIds = [];
    this.locked = false;
    return this;
  }

  /** The language changed: redraw every label in place (the body and the scroll stay). */
  retranslate() {
    for (const el of this.labels) el.textContent = t(el.dataset.i18n);
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

  // -- versions -------------------------------------------------------------------------------

  /** Name the bubble after its stored message: {id, parent_id, sibling_ids}. */
  setMessage(message) {
    this.messageId = message.id;
    this.parentId = message.parent_id ?? null;
    this.setVersions(message.sibling_ids ?? [message.id]);
  }

  /** The versions of this message (its siblings, itself included, oldest first). */
  setVersions(siblingIds) {
    this.siblingIds = siblingIds;
    this.drawVersions();
  }

  /** While an answer streams in the conversation: versions cannot be switched. */
  setLocked(locked) {
    if (this.locked === locked) return;
    this.locked = locked;
    this.drawVersions();
  }

  drawVersions() {
    const count = this.siblingIds.length;
    const index = this.siblingIds.indexOf(this.messageId);
    this.els.versions.hidden = count < 2 || index < 0;
    if (this.els.versions.hidden) return;
    this.els.versions.setAttribute("aria-label", t("versionOf", { n: index + 1, m: count }));
    this.els["version-count"].textContent = `${index + 1}/${count}`;
    for (const [name, step, key] of [["version-prev", -1, "previousVersion"], ["version-next", 1, "nextVersion"]]) {
      const target = this.els[name];
      target.setAttribute("aria-label", t(key));
      target.title = t(key);
      target.disabled = this.locked || !this.siblingIds[index + step];
    }
  }

  // -- questions ------------------------------------------------------------------------------

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

  startEdit(text = this.text) {
    if (this.querySelector(".edit-box")) return;
    const box = document.createElement("form");
    box.className = "edit-box";
    const area = document.createElement("textarea");
    area.className = "edit-input";
    area.value = text;
    const label = document.createElement("div");
    label.className = "edit-label";
    label.textContent = t("editing");
    area.setAttribute("aria-label", t("editing"));
    const send = button("btn primary edit-send", t("editSend"), "submit");
    const cancel = button("btn edit-cancel", t("cancel"));
    const buttons = document.createElement("div");
    buttons.className = "edit-buttons";
    buttons.append(cancel, send);
    box.append(label, area, buttons);
    this.body.hidden = true;
    this.body.after(box);
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
    const close = () => {
      box.remove();
      this.body.hidden = false;
    };
    const submit = () => {
      const text = area.value;
      if (!text.trim()) return;
      close();
      this.dispatchEvent(new CustomEvent("sc-edit", { bubbles: true, detail: { text } }));
    };
    box.addEventListener("submit", (event) => {
      event.preventDefault();
      submit();
    });
    cancel.addEventListener("click", close);
    area.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submit();
      } else if (event.key === "Escape") {
        close();
      }
    });
  }

  // -- answers --------------------------------------------------------------------------------

  /** Follow a live Run: draw what it already holds at once, then once per frame as it changes. */
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
      slicer.add((deadline) => {
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

  changed(type) {
    if (type === "replace") this.resetDrawn();
    if (type === "id") this.messageId = this.run.id;
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

  /** Before the first token: a visible wait, with the time it has lasted once past WAIT_SHOWN. */
  drawWaiting(src) {
    const waiting = !src.finished && !src.text && !src.reasoning && !src.reconnecting;
    const box = this.els["msg-wait"];
    if (box.hidden === !waiting && !waiting) return;
    box.hidden = !waiting;
    if (!waiting) {
      clearInterval(this.waitTimer);
      this.waitTimer = 0;
      return;
    }
    const seconds = Math.floor((performance.now() - (src.startedAt ?? performance.now())) / 1000);
    const text = seconds >= WAIT_SHOWN ? t("waitingFor", { seconds }) : t("waiting");
    if (this.els["wait-text"].textContent !== text) this.els["wait-text"].textContent = text;
    this.waitTimer ||= setInterval(() => {
      if (this.source === src && this.isConnected) this.drawWaiting(src);
      else {
        clearInterval(this.waitTimer);
        this.waitTimer = 0;
      }
    }, 1000);
  }

  drawReasoning(src) {
    const details = this.els.thinking;
    if (!src.reasoning) {
      details.hidden = true;
      return;
    }
    if (details.hidden) {
      details.hidden = false;
      details.open = !src.finished && !src.text;
    }
    if (src.reasoning.length > this.drawn.reasoning) {
      // the open box follows the thinking while the reader is at its end
      const box = this.els["thinking-text"];
      const follow = box.scrollHeight - box.scrollTop - box.clientHeight <= 24;
      this.thinkingText.appendData(src.reasoning.slice(this.drawn.reasoning));
      this.drawn.reasoning = src.reasoning.length;
      if (follow && details.open) box.scrollTop = box.scrollHeight;
    }
    if ((src.text || src.finished) && !this.drawn.collapsed) {
      this.drawn.collapsed = true;
      details.open = false; // collapsed once the answer starts
    }
    const label = this.els["thinking-label"];
    let text = t("thoughts");
    if (!src.text && !src.finished) text = t("thinking");
    else if (src.timed && src.reasoningMs !== null) {
      text = t("thoughtFor", { seconds: (src.reasoningMs / 1000).toFixed(1) });
    }
    if (label.textContent !== text) label.textContent = text;
  }

  drawReconnecting(src) {
    const box = this.els["msg-error"];
    if (src.reconnecting) {
      box.hidden = false;
      box.classList.add("reconnecting");
      this.els["err-text"].textContent = t("reconnecting");
      this.els.retry.hidden = true;
    } else if (box.classList.contains("reconnecting")) {
      box.hidden = true;
      box.classList.remove("reconnecting");
    }
  }

  drawEnd(src, countdown = true) {
    const badge = this.els["status-badge"];
    badge.hidden = !(src.status === "stopped" || src.status === "incomplete");
    badge.textContent = badge.hidden ? "" : t(src.status);
    this.els.stats.textContent = stats(src);
    // an error with no text: nothing to copy, and Retry (in the error) is the way to ask again
    this.toggleAttribute("data-empty", !src.text);
    const box = this.els["msg-error"];
    box.classList.remove("reconnecting");
    box.hidden = !src.error;
    if (!src.error) return;
    this.els["err-text"].textContent = errorText(src.error);
    // never stored: nothing to regenerate; the question can be sent again, as it was or edited
    const unsent = !src.id;
    if (unsent) this.dataset.unsent = "";
    const again = unsent ? this.els.resend : this.els.retry;
    this.els.retry.hidden = unsent || !src.error.retryable;
    this.els.resend.hidden = !unsent || !src.error.retryable;
    this.els["edit-resend"].hidden = !unsent;
    // a live error's Retry-After: the button waits, counting down (a stored one has long passed)
    if (countdown && src.error.retryable && src.error.retry_after > 0 && this.run) {
      this.countDown(again, t(unsent ? "resend" : "retry"), src.error.retry_after);
    }
  }

  countDown(target, label, seconds) {
    clearInterval(this.countdown);
    const until = performance.now() + seconds * 1000;
    const tick = () => {
      const left = Math.ceil((until - performance.now()) / 1000);
      target.disabled = left > 0;
      target.textContent = left > 0 ? t("againIn", { label, seconds: left }) : label;
      if (left <= 0) clearInterval(this.countdown);
    };
    tick();
    this.countdown = setInterval(tick, 250);
  }

  onClick(event) {
    const target = event.target.closest("button");
    if (!target || !this.contains(target)) return;
    if (target.classList.contains("code-copy")) {
      const code = target.closest(".code-block")?.querySelector("code");
      if (code) flash(target, copyText(code.textContent));
    } else if (target.classList.contains("copy-answer")) {
      flash(target, copyText(this.source?.text ?? ""));
    } else if (target.classList.contains("regenerate")) {
      this.dispatchEvent(new CustomEvent("sc-regenerate", { bubbles: true }));
    } else if (target.classList.contains("retry")) {
      this.dispatchEvent(new CustomEvent("sc-retry", { bubbles: true, detail: { error: this.source?.error } }));
    } else if (target.classList.contains("resend")) {
      this.dispatchEvent(new CustomEvent("sc-resend", { bubbles: true }));
    } else if (target.classList.contains("edit-resend")) {
      this.dispatchEvent(new CustomEvent("sc-edit-resend", { bubbles: true }));
    } else if (target.classList.contains("edit")) {
      this.startEdit();
    } else if (target.classList.contains("version-prev") || target.classList.contains("version-next")) {
      const step = target.classList.contains("version-prev") ? -1 : 1;
      const id = this.siblingIds[this.siblingIds.indexOf(this.messageId) + step];
      if (id) this.dispatchEvent(new CustomEvent("sc-version", { bubbles: true, detail: { id, step } }));
    }
  }
}

function setIfChanged(dataset, key, value) {
  if (dataset[key] !== value) dataset[key] = value;
}

const MIN_RATE_SECONDS = 0.25; // a rate over less time is a burst's, not the model's speed

function stats(src) {
  const parts = [];
  const usage = src.usage;
  // an empty answer has no tokens to tell of (and "~0 tokens (estimated)" says nothing)
  if (usage && usage.completion_tokens != null && (usage.completion_tokens > 0 || !usage.estimated)) {
    const key = usage.estimated ? "tokensEstimated" : "tokens";
    parts.push(t(key, { count: usage.completion_tokens }));
  }
  const done = src.done || {};
  if (done.ttft_ms != null) parts.push(t("ttft", { ms: Math.round(done.ttft_ms) }));
  if (usage?.completion_tokens && done.total_ms != null && done.ttft_ms != null) {
    const seconds = (done.total_ms - done.ttft_ms) / 1000;
    if (seconds >= MIN_RATE_SECONDS) parts.push(t("rate", { rate: (usage.completion_tokens / seconds).toFixed(1) }));
  }
  return parts.join(" · ");
}


function button(className, label, type = "button") {
  const el = document.createElement("button");
  el.type = type;
  el.className = className;
  el.textContent = label;
  return el;
}

async function flash(target, copying) {
  const ok = await copying;
  if (!ok) return;
  const label = target.textContent;
  target.textContent = t("copied");
  target.classList.add("done");
  setTimeout(() => {
    target.textContent = label;
    target.classList.remove("done");
  }, 1200);
}

customElements.define("sc-message", ScMessage);
