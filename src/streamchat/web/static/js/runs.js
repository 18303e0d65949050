// One answer being received: a Run keeps the text, reasoning and stats a generation's events add
// up to, and dispatches "change" for every event. It knows nothing of the DOM: views bind to it
// and unbind when the user switches conversation, while the Run keeps reading. How it reads the
// events (the first response, re-attach with backoff, the stored message once they are gone)
// is run-stream.js: methods of Run kept there by their job. RunRegistry: the runs followed.

import { api, ApiError } from "./api.js";
import { reading } from "./run-stream.js";
import { mergeTool } from "./tools.js";

/** @import { ErrorBody, FileInfo, Usage } from "./api-types.js" */
/** @import { StreamEvent } from "./sse.js" */
/** @import { ToolCall } from "./tools.js" */

/**
 * @typedef {object} Origin what a Run was asked: enough to ask it again (branches.js `ask`)
 * @property {"chat" | "edit" | "regenerate" | "attach" | "continue"} kind
 * @property {string} [message] the question's text (chat, edit)
 * @property {string | null} [conversationId]
 * @property {string | null} [parentId] chat: the answer the question follows
 * @property {string} [questionId] edit
 * @property {string} [answerId] regenerate, continue
 * @property {FileInfo[]} [files] chat: the question's files
 */

/**
 * @typedef {object} Done a `done` event's data (or a stored answer's)
 * @property {string | null | undefined} finish_reason
 * @property {number | null} [ttft_ms]
 * @property {number | null} [total_ms]
 * @property {boolean} [title_pending]
 */

/** @typedef {"streaming" | "complete" | "stopped" | "incomplete" | "error"} RunStatus */

export class Run extends EventTarget {
  /**
   * origin: what was asked, enough to ask it again (branches.js `ask`):
   * {kind: "chat", message, parentId} | {kind: "edit", message, questionId} |
   * {kind: "regenerate", answerId} | {kind: "attach"}
   * @param {{conversationId?: string | null, origin?: Origin}} [options]
   */
  constructor({ conversationId = null, origin = { kind: "chat" } } = {}) {
    super();
    /** @type {string | null} */
    this.id = null; // the answer's message id, from the response header or `meta`
    /** @type {string | null} */
    this.questionId = null; // the question it answers (`meta`)
    this.conversationId = conversationId;
    this.origin = origin;
    /** @type {string | null | undefined} */
    this.model = null;
    this.text = "";
    this.reasoning = "";
    this.lastId = 0;
    /** @type {Usage | null | undefined} */
    this.usage = null;
    /** @type {Done | null} */
    this.done = null;
    /** @type {ErrorBody | null | undefined} */
    this.error = null;
    this.httpError = false;
    /** @type {RunStatus} */
    this.status = "streaming";
    this.stopping = false;
    this.reconnecting = false;
    this.timed = origin.kind !== "attach";
    /** @type {number | null} */
    this.reasoningStart = null;
    /** @type {number | null} */
    this.reasoningMs = null;
    /** @type {ToolCall[]} */
    this.tools = []; // the builtin tools the server runs within the answer (`tool` events)
    this.startedAt = performance.now(); // for the wait before the first token
    this.abort = new AbortController();
    /** @type {Promise<Run>} resolves at the end */
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
  }

  get finished() {
    return this.status !== "streaming";
  }

  /** Ended before the server stored anything (a refusal, or no connection): nothing was written. */
  get refused() {
    return this.finished && this.error !== null && this.id === null;
  }

  /** Apply one event of the stream (once: an id at or below `lastId` was applied). @param {StreamEvent} event */
  apply(event) {
    if (event.id && event.id <= this.lastId) return; // already applied before a reconnect
    if (event.id) this.lastId = event.id;
    const data = event.data;
    switch (event.type) {
      case "meta":
        this.id = data.message_id;
        this.questionId = data.question_id ?? null;
        this.conversationId = data.conversation_id;
        this.model = data.model;
        break;
      case "reasoning":
        this.reasoningStart ??= performance.now();
        this.reasoning += data.text;
        break;
      case "delta":
        this.thought(data.reasoning_ms); // the first after thinking: the server's time
        this.endReasoning();
        this.text += data.text;
        break;
      case "usage":
        this.usage = data;
        break;
      case "tool": // {id, name, status}: Kimi's $web_search, run by the server
        mergeTool(this.tools, data);
        break;
      case "done":
        this.thought(data.reasoning_ms);
        this.endReasoning();
        this.done = data;
        this.status = data.finish_reason === "stopped" ? "stopped" : "complete";
        break;
      case "error":
        this.endReasoning();
        this.error = data;
        this.status = this.text || this.reasoning ? "incomplete" : "error";
        break;
      default:
        return;
    }
    globalThis.streamchatProbe?.arrival(event);
    this.emit(event.type);
  }

  /**
   * How long it thought, as the server timed and stores it (replayed events cannot be timed).
   * @param {number | null | undefined} ms
   */
  thought(ms) {
    if (ms != null) [this.reasoningMs, this.timed] = [ms, true];
  }

  endReasoning() {
    if (this.reasoningStart !== null && this.reasoningMs === null) {
      this.reasoningMs = performance.now() - this.reasoningStart;
    }
  }

  /** Ask the server to stop; the stream then ends with done {finish_reason: "stopped"}. */
  async stop() {
    if (this.finished || this.stopping) return;
    this.stopping = true;
    this.emit("stopping");
    if (this.id) await this.requestStop(); // else start() asks as soon as the id is known
  }

  async requestStop() {
    try {
      await api.stop(/** @type {string} */ (this.id)); // called once the id is known
    } catch {
      // the stream reports how the answer ended
    }
  }

  /** Stop reading (the answer keeps running on the server). */
  close() {
    this.abort.abort();
  }

  /** @param {any} error what ended the stream (an ApiError, an abort, a network error) @returns {Run} */
  fail(error) {
    if (this.finished) return this.end();
    if (error?.name === "AbortError") {
      this.status = "stopped";
    } else {
      const apiError = error instanceof ApiError ? error : ApiError.network(error);
      this.error = apiError.toJSON();
      this.status = this.text || this.reasoning ? "incomplete" : "error";
    }
    this.emit("error");
    return this.end();
  }

  /** @returns {Run} */
  end() {
    if (this.endedOnce) return this;
    this.endedOnce = true;
    this.reconnecting = false;
    this.resolveEnded(this);
    this.emit("end");
    return this;
  }

  /** "change" with `type`: an event's type, or id, reconnecting, reconnected, replace, stopping, error, end @param {string} type */
  emit(type) {
    this.dispatchEvent(new CustomEvent("change", { detail: type }));
  }
}

Object.assign(Run.prototype, reading);

/** The runs this page is following, by generation id and by conversation. */
export class RunRegistry {
  constructor() {
    /** @type {Map<string | null, Run>} */
    this.byConversation = new Map();
  }

  /** @param {Run} run @returns {Run} */
  add(run) {
    const key = () => run.conversationId;
    run.addEventListener("change", (event) => {
      if (/** @type {CustomEvent<string>} */ (event).detail === "meta" && key()) this.byConversation.set(key(), run);
      if (/** @type {CustomEvent<string>} */ (event).detail === "end" && this.byConversation.get(key()) === run) this.byConversation.delete(key());
    });
    if (key()) this.byConversation.set(key(), run);
    return run;
  }

  /** @param {string} id @returns {Run | null} */
  forConversation(id) {
    const run = this.byConversation.get(id);
    return run && !run.finished ? run : null;
  }

  /** @param {string} id @returns {Run | null} */
  forGeneration(id) {
    for (const run of this.byConversation.values()) if (run.id === id && !run.finished) return run;
    return null;
  }
}
