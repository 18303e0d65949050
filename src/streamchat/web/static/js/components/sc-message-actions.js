// <sc-message>'s actions: the foot and the error box at an answer's end (the stopped/incomplete
// badge, the stats line; the error with Retry, or Resend and Edit & resend for a question the
// server never stored, waiting out a Retry-After; "reconnecting" meanwhile), what each button
// does (Copy, Regenerate, a code block's copy, the error's buttons, Edit, the version arrows),
// and a question's inline editor. Methods of ScMessage (sc-message.js), kept here by their job.

import { copyText } from "../clipboard.js";
import { errorText } from "../feedback.js";
import { t } from "../i18n.js";

/** @import { ScMessage } from "./sc-message.js" */

/**
 * Methods of ScMessage (declared on it in tools/js/types/page.d.ts)
 * @satisfies {ThisType<ScMessage> & Pick<ScMessage, "drawReconnecting" | "drawEnd" | "countDown" | "startEdit" | "onClick">}
 */
export const actions = {
  /** @param {AnswerSource} src */
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
  },

  /** @param {AnswerSource} src @param {boolean} [countdown] a Retry-After counts down */
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
    // (retry_after null or undefined: not > 0)
    if (countdown && src.error.retryable && /** @type {number} */ (src.error.retry_after) > 0 && this.run) {
      this.countDown(again, t(unsent ? "resend" : "retry"), /** @type {number} */ (src.error.retry_after));
    }
  },

  /** @param {HTMLButtonElement} target @param {string} label @param {number} seconds */
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
  },

  /** @this {ScMessage} @param {string} [text] */
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
  },

  /** @param {MouseEvent} event */
  onClick(event) {
    const target = /** @type {Element} */ (event.target).closest("button");
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
      this.switchVersion(target.classList.contains("version-prev") ? -1 : 1);
    }
  },
};

const MIN_RATE_SECONDS = 0.25; // a rate over less time is a burst's, not the model's speed

/** @param {AnswerSource} src @returns {string} */
function stats(src) {
  const parts = [];
  const usage = src.usage;
  // an empty answer has no tokens to tell of (and "~0 tokens (estimated)" says nothing)
  if (usage && usage.completion_tokens != null && (usage.completion_tokens > 0 || !usage.estimated)) {
    const key = usage.estimated ? "tokensEstimated" : "tokens";
    parts.push(t(key, { count: usage.completion_tokens }));
  }
  const done = /** @type {Partial<import("../runs.js").Done>} */ (src.done || {});
  if (done.ttft_ms != null) parts.push(t("ttft", { ms: Math.round(done.ttft_ms) }));
  if (usage?.completion_tokens && done.total_ms != null && done.ttft_ms != null) {
    const seconds = (done.total_ms - done.ttft_ms) / 1000;
    if (seconds >= MIN_RATE_SECONDS) parts.push(t("rate", { rate: (usage.completion_tokens / seconds).toFixed(1) }));
  }
  return parts.join(" · ");
}

/**
 * @param {string} className
 * @param {string} label
 * @param {"button" | "submit"} [type]
 */
function button(className, label, type = "button") {
  const el = document.createElement("button");
  el.type = type;
  el.className = className;
  el.textContent = label;
  return el;
}

/** @param {HTMLElement} target @param {Promise<boolean>} copying */
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

