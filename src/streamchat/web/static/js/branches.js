// The thread shown: the bubbles of one path through a conversation's tree (oldest first), and
// what each action asks the server for. Every action names its message: a new question is the
// child of the last answer shown, Regenerate makes a new version of that answer, Edit a new
// version of that question; nothing means "the last message", so an old tab, or a question the
// server never stored, cannot touch the wrong message.
//
// An action takes its bubble and everything after it off the screen and shows the new version
// in its place. When the server refuses it (nothing is stored then), `restore` puts the screen
// back as it was, or the question stays, marked "not sent", with Resend and Edit & resend.

import { api } from "./api.js";
import { Slicer } from "./slices.js";
import "./components/sc-message.js";

/** @import { Message } from "./api-types.js" */
/** @import { ScMessage } from "./components/sc-message.js" */
/** @import { Origin, Run } from "./runs.js" */

/**
 * @typedef {object} Asked the bubbles of an action (app.js keeps them per run)
 * @property {ScMessage | null} question its new question (none for Regenerate)
 * @property {ScMessage} answer
 * @property {ScMessage[]} taken the bubbles it took off the screen
 */

// While the thread is drawn, stored answers are rendered a step at a time until what shows is
// filled or FIRST_SLICE ms have gone (a short thread is drawn whole); the rest in slices.
const FIRST_STEP = 2; // ms: at least one chunk of blocks
const FIRST_SLICE = 16; // ms

export class Thread {
  /** @param {HTMLElement} element the thread's list */
  constructor(element) {
    this.el = element;
    // stored answers are rendered in slices, the last one first (what the reader sees)
    this.slicer = new Slicer(() => delete this.el.dataset.rendering);
  }

  /** @returns {ScMessage[]} */
  get bubbles() {
    return /** @type {ScMessage[]} */ ([...this.el.children]);
  }

  get empty() {
    return this.el.children.length === 0;
  }

  /**
   * Draw `messages` (a path, oldest first); `runFor(message)` follows a streaming answer.
   * @param {Message[]} messages
   * @param {(message: Message) => Run} runFor
   */
  render(messages, runFor) {
    this.clear();
    /** @type {[ScMessage, Message][]} */
    const stored = [];
    for (const message of messages) {
      if (message.role === "user") this.addQuestion(message.content, message);
      else if (message.role !== "assistant") continue;
      else if (message.status !== "streaming") stored.push([this.addAnswer(), message]);
      else {
        const bubble = this.addAnswer();
        bubble.setMessage(message);
        bubble.bindRun(runFor(message));
      }
    }
    // the bodies of stored answers from the last one up: what is on screen first, the rest in
    // slices between frames, so opening a long conversation never holds the page
    for (const [bubble, message] of stored.reverse()) bubble.showStored(message, this.slicer);
    if (stored.length) {
      this.el.dataset.rendering = "";
      const until = performance.now() + FIRST_SLICE;
      do this.slicer.run(FIRST_STEP);
      while (this.slicer.busy && !this.filled() && performance.now() < until);
    }
  }

  /** Whether the drawn part of the thread fills its view (once more, for a scroll up). */
  filled() {
    const view = this.el.parentElement;
    return !!view && this.el.offsetHeight > 2 * view.clientHeight;
  }

  /** The language changed: every bubble redraws its labels, nothing else moves. */
  retranslate() {
    for (const bubble of this.bubbles) bubble.retranslate();
  }

  clear() {
    this.slicer.clear();
    delete this.el.dataset.rendering;
    this.el.replaceChildren();
  }

  /** @param {string} text @param {Message | null} [message] @returns {ScMessage} */
  addQuestion(text, message = null) {
    const bubble = document.createElement("sc-message").setup("user");
    bubble.showUser(text, message);
    this.el.append(bubble);
    return bubble;
  }

  /** @returns {ScMessage} */
  addAnswer() {
    const bubble = document.createElement("sc-message").setup("assistant");
    this.el.append(bubble);
    return bubble;
  }

  /** The last stored answer shown: the parent of a new question (null in a new chat). */
  lastAnswerId() {
    const answer = this.bubbles.findLast((b) => b.kind === "assistant" && b.messageId && !b.unsent);
    return answer?.messageId ?? null;
  }

  /** Questions the server never stored leave when another one is sent. */
  dropUnsent() {
    for (const bubble of this.bubbles) if (bubble.unsent) bubble.remove();
  }

  /**
   * Take `bubble` and everything after it off the screen; returns them for `restore`.
   * @param {ScMessage} bubble
   * @returns {ScMessage[]}
   */
  cut(bubble) {
    const bubbles = this.bubbles;
    const taken = bubbles.slice(bubbles.indexOf(bubble));
    for (const b of taken) b.remove();
    return taken;
  }

  /**
   * Undo an action: remove the bubbles it `added`, put back those it `taken` away.
   * @param {(ScMessage | null)[]} added
   * @param {ScMessage[]} taken
   */
  restore(added, taken) {
    for (const b of added) b?.remove();
    this.el.append(...taken);
  }

  /**
   * An action got its ids (`meta`): name its bubbles. Their versions are known at once: a
   * regenerated answer joins the versions of the answer it was asked from, an edited question
   * those of the question; `setVersions` corrects them from the server when the answer ends.
   * @param {Run} run its `meta` came: its ids are known
   * @param {Asked} asked
   */
  named(run, { question, answer, taken }) {
    const from = taken[0];
    const kind = run.origin.kind;
    if (question) {
      const earlier = kind === "edit" && !from?.unsent ? from.siblingIds : [];
      question.setMessage(/** @type {MessageName} */ ({ id: run.questionId, sibling_ids: [...earlier, run.questionId] }));
    }
    const earlier = kind === "regenerate" ? from.siblingIds : [];
    answer.setMessage(/** @type {MessageName} */ ({ id: run.id, parent_id: run.questionId, sibling_ids: [...earlier, run.id] }));
  }

  /** Count the versions of every bubble again from `messages` (the conversation's tree). @param {Message[]} messages */
  setVersions(messages) {
    const versions = new Map(messages.map((m) => [m.id, m.sibling_ids ?? [m.id]]));
    for (const bubble of this.bubbles) {
      const ids = versions.get(/** @type {string} */ (bubble.messageId));
      if (ids) bubble.setVersions(ids);
    }
  }

  /** While an answer streams here: no Edit, Regenerate or version switch. */
  /** @param {boolean} busy */
  lock(busy) {
    this.el.classList.toggle("busy", busy);
    for (const bubble of this.bubbles) bubble.setLocked(busy);
  }

  /** After a version switch redrew the thread: focus the same arrow (or the other one). */
  /** @param {string} id @param {number} step @returns {ScMessage | null} */
  focusVersion(id, step) {
    const bubble = this.bubbles.find((b) => b.messageId === id);
    if (!bubble) return null;
    /** @type {("version-prev" | "version-next")[]} */
    const [same, other] = step < 0 ? ["version-prev", "version-next"] : ["version-next", "version-prev"];
    const target = bubble.els[same].disabled ? bubble.els[other] : bubble.els[same];
    target.focus();
    return bubble;
  }
}

/**
 * Open the stream that asks `origin` (runs.js Run.origin), naming its message.
 * @param {Origin} origin
 * @param {string | null | undefined} model
 * @param {AbortSignal} signal
 * @param {Switches} [switches]
 * @returns {Promise<Response>}
 */
export function ask(origin, model, signal, switches = {}) {
  // each kind's origin has its ids and text (runs.js Origin)
  if (origin.kind === "regenerate") return api.regenerate(/** @type {string} */ (origin.answerId), { model, ...switches }, signal);
  if (origin.kind === "edit") {
    return api.edit(/** @type {string} */ (origin.questionId), { message: /** @type {string} */ (origin.message), model, ...switches }, signal);
  }
  const body = {
    message: origin.message,
    conversation_id: origin.conversationId ?? undefined,
    parent_id: origin.parentId ?? undefined,
    model,
    attachments: origin.files?.length ? origin.files.map((file) => file.id) : undefined,
    ...switches,
  };
  return api.chat(body, signal);
}
