// One answer being received: a Run keeps the text, reasoning and stats a generation's events add
// up to, and dispatches "change" for every event. It knows nothing of the DOM: views bind to it
// and unbind when the user switches conversation, while the Run keeps reading. How it reads the
// events (the first response, re-attach with backoff, the stored message once they are gone)
// is run-stream.js: methods of Run kept there by their job. RunRegistry: the runs followed.

import { api, ApiError } from "./api.js";
import { reading } from "./run-stream.js";
import { mergeTool } from "./tools.js";

export class Run extends EventTarget {
  /**
   * origin: what was asked, enough to ask it again (branches.js `ask`):
   * {kind: "chat", message, parentId} | {kind: "edit", message, questionId} |
   * {kind: "regenerate", answerId} | {kind: "attach"}
   */
  constructor({ conversationId = null, origin = { kind: "chat" } } = {}) {
    super();
    this.id = null; // the answer's message id, from the response header or `meta`
    this.questionId = null; // the question it answers (`meta`)
    this.conversationId = conversationId;
    this.origin = origin;
    this.model = null;
    this.text = "";
    this.reasoning = "";
    this.lastId = 0;
    this.usage = null;
    this.done = null;
    this.error = null;
    this.httpError = false;
    this.status = "streaming";
    this.stopping = false;
    this.reconnecting = false;
    this.timed = origin.kind !== "attach";
    this.reasoningStart = null;
    this.reasoningMs = null;
    this.tools = []; // the builtin tools the server runs within the answer (`tool` events)
    this.startedAt = performance.now(); // for the wait before the first token
    this.abort = new AbortController();
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
  }

  get finished() {
    return this.status !== "streaming";
  }

  /** Ended before the server stored anything (a refusal, or no connection): nothing was written. */
  get refused() {
    return this.finished && this.error !== null && this.id === null;
  }

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
      await api.stop(this.id);
    } catch {
      // the stream reports how the answer ended
    }
  }

  /** Stop reading (the answer keeps running on the server). */
  close() {
    this.abort.abort();
  }

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

  end() {
    if (this.endedOnce) return this;
    this.endedOnce = true;
    this.reconnecting = false;
    this.resolveEnded(this);
    this.emit("end");
    return this;
  }

  emit(type) {
    this.dispatchEvent(new CustomEvent("change", { detail: type }));
  }
}

Object.assign(Run.prototype, reading);

/** The runs this page is following, by generation id and by conversation. */
export class RunRegistry {
  constructor() {
    this.byConversation = new Map();
  }

  add(run) {
    const key = () => run.conversationId;
    run.addEventListener("change", (event) => {
      if (event.detail === "meta" && key()) this.byConversation.set(key(), run);
      if (event.detail === "end" && this.byConversation.get(key()) === run) this.byConversation.delete(key());
    });
    if (key()) this.byConversation.set(key(), run);
    return run;
  }

  forConversation(id) {
    const run = this.byConversation.get(id);
    return run && !run.finished ? run : null;
  }

  forGeneration(id) {
    for (const run of this.byConversation.values()) if (run.id === id && !run.finished) return run;
    return null;
  }
}
