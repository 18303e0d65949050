// <sc-message>'s thinking: the wait before an answer's first token (with how long it has
// lasted, once past WAIT_SHOWN) and the thinking box (open while the model thinks, following its
// end, its label counting the seconds; collapsed once the answer starts; "Thought for n s" when
// the time is known). Methods of ScMessage (sc-message.js), kept here by their job.

import { t } from "../i18n.js";

const WAIT_SHOWN = 3; // seconds of waiting before the wait shows how long it has lasted

/** @import { ScMessage } from "./sc-message.js" */

/**
 * Redraws `msg` once a second with `draw` while it shows `src` and is on the page; the timer
 * (msg[key]) stops itself once it does not.
 * @param {ScMessage} msg
 * @param {"waitTimer" | "thinkTimer"} key
 * @param {AnswerSource} src
 * @param {(this: ScMessage, src: AnswerSource) => void} draw
 */
function tickWhileShown(msg, key, src, draw) {
  msg[key] ||= setInterval(() => {
    if (msg.source === src && msg.isConnected) draw.call(msg, src);
    else stopTicking(msg, key);
  }, 1000);
}

/**
 * @param {ScMessage} msg
 * @param {"waitTimer" | "thinkTimer"} key
 */
function stopTicking(msg, key) {
  clearInterval(msg[key]);
  msg[key] = 0;
}

/**
 * Methods of ScMessage (declared on it in tools/js/types/page.d.ts)
 * @satisfies {ThisType<ScMessage> & Pick<ScMessage, "drawWaiting" | "drawReasoning" | "thinkingFor">}
 */
export const thinking = {
  /** Before the first token: a visible wait, with the time it has lasted once past WAIT_SHOWN. */
  /** @param {AnswerSource} src */
  drawWaiting(src) {
    const waiting = !src.finished && !src.text && !src.reasoning && !src.reconnecting;
    const box = this.els["msg-wait"];
    if (box.hidden === !waiting && !waiting) return;
    box.hidden = !waiting;
    if (!waiting) {
      stopTicking(this, "waitTimer");
      return;
    }
    const seconds = Math.floor((performance.now() - (src.startedAt ?? performance.now())) / 1000);
    const text = seconds >= WAIT_SHOWN ? t("waitingFor", { seconds }) : t("waiting");
    if (this.els["wait-text"].textContent !== text) this.els["wait-text"].textContent = text;
    tickWhileShown(this, "waitTimer", src, this.drawWaiting);
  },

  /** @param {AnswerSource} src */
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
    const thinking = !src.text && !src.finished;
    if (thinking) text = this.thinkingFor(src);
    else if (src.timed && src.reasoningMs !== null) {
      text = t("thoughtFor", { seconds: (src.reasoningMs / 1000).toFixed(1) });
    }
    if (label.textContent !== text) label.textContent = text;
    // the seconds go on between deltas (a model may think a while between two)
    if (thinking && this.isConnected) tickWhileShown(this, "thinkTimer", src, this.drawReasoning);
    else stopTicking(this, "thinkTimer");
  },

  /** "Thinking… n s" while it thinks, timed from its first reasoning here (not after a
   * reload: the replayed thinking started earlier than the page saw it). */
  /** @param {AnswerSource} src */
  thinkingFor(src) {
    if (!src.timed || src.reasoningStart == null) return t("thinking");
    const seconds = Math.floor((performance.now() - src.reasoningStart) / 1000);
    return seconds >= 1 ? t("thinkingFor", { seconds }) : t("thinking");
  },
};
