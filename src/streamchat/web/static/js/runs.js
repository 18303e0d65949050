// One answer being received: a Run reads a generation's events (from POST /api/chat, regenerate,
// edit, or a re-attach), keeps the text, reasoning and stats they add up to, and dispatches
// "change" for every event. It knows nothing of the DOM: views bind to it and unbind when the
// user switches conversation, while the Run keeps reading.
//
// A dropped connection re-attaches to the same generation with the last event id it applied
// (GET /api/generations/{id}/events, Last-Event-ID), with exponential backoff; events at or
// below that id are ignored, so nothing is duplicated. 204 or 410 there means the answer ended
// (or its events expired): the stored message is then read from the conversation.

import { api, ApiError } from "./api.js";
import { readEvents } from "./sse.js";
import { mergeTool } from "./tools.js";

const MAX_ATTEMPTS = 8;

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

  /** Open the stream with `open(signal) -> Promise<Response>` and follow it to its end. */
  async start(open) {
    let response;
    try {
      response = await open(this.abort.signal);
    } catch (error) {
      return this.fail(error);
    }
    if (!response.ok) {
      this.httpError = true;
      return this.fail(await ApiError.fromResponse(response));
    }
    this.id = response.headers.get("x-streamchat-generation-id") || this.id;
    this.emit("id");
    if (this.stopping) this.requestStop(); // Stop was pressed before the answer had a name
    return this.follow(response);
  }

  /** Re-attach to generation `id` after event `after`; `prefill` is what that id already showed. */
  attach(id, after = 0, prefill = null) {
    this.id = id;
    this.lastId = after;
    if (prefill) {
      this.text = prefill.text || "";
      this.reasoning = prefill.reasoning || "";
      this.thought(prefill.reasoningMs);
    }
    return this.follow(null);
  }

  async follow(response) {
    let attempt = 0;
    while (!this.finished) {
      if (this.abort.signal.aborted) return this.end();
      if (response === null) {
        if (attempt >= MAX_ATTEMPTS) {
          return this.fail(new ApiError({ code: "connection_lost", message: "", retryable: true }));
        }
        response = await this.reopen(attempt++);
        if (response === null) continue;
        if (this.finished) break;
      }
      const before = this.lastId;
      await this.read(response);
      response = null;
      if (this.lastId > before) attempt = 0;
    }
    return this.end();
  }

  /** One re-attach attempt: a Response to read, or null to try again (or when settled). */
  async reopen(attempt) {
    const delay = attempt === 0 && !this.lastId ? 0 : Math.min(8000, 500 * 2 ** attempt);
    this.reconnecting = attempt > 0 || this.lastId > 0;
    this.emit("reconnecting");
    try {
      await sleep(delay * (0.85 + Math.random() * 0.3), this.abort.signal);
      const response = await api.events(this.id, this.lastId, this.abort.signal);
      if (response.status === 204 || response.status === 410) {
        await this.settleFromStore();
        return null;
      }
      if (!response.ok) {
        const error = await ApiError.fromResponse(response);
        if (!error.retryable) this.fail(error);
        return null;
      }
      this.reconnecting = false;
      this.emit("reconnected");
      return response;
    } catch (error) {
      if (this.abort.signal.aborted) return null;
      if (error instanceof ApiError && !error.retryable) this.fail(error);
      return null;
    }
  }

  async read(response) {
    try {
      for await (const event of readEvents(response, { signal: this.abort.signal })) {
        this.apply(event);
        if (this.finished) return;
      }
    } catch (error) {
      if (this.abort.signal.aborted) return;
      if (error instanceof ApiError && error.code !== "network") this.fail(error);
      // anything else is the connection dropping: follow() re-attaches
    }
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

  /** How long it thought, as the server timed and stores it (replayed events cannot be timed). */
  thought(ms) {
    if (ms != null) [this.reasoningMs, this.timed] = [ms, true];
  }

  endReasoning() {
    if (this.reasoningStart !== null && this.reasoningMs === null) {
      this.reasoningMs = performance.now() - this.reasoningStart;
    }
  }

  /** Take the final state from the stored message, when the live events are gone. */
  async settleFromStore() {
    if (!this.conversationId) {
      this.fail(new ApiError({ code: "connection_lost", message: "", retryable: true }));
      return;
    }
    // the whole tree: the answer need not be on the current path (another tab may have moved it)
    const conversation = await api.conversation(this.conversationId, { tree: true });
    const message = conversation.messages.find((m) => m.id === this.id);
    if (!message) {
      this.fail(new ApiError({ code: "not_found", message: `message ${this.id} not found` }));
      return;
    }
    if (message.status === "streaming") return; // still running elsewhere: keep trying
    this.text = message.content || "";
    this.reasoning = message.reasoning || "";
    this.model = message.model;
    this.usage = message.usage;
    this.error = message.error;
    if (message.reasoning_ms != null) [this.reasoningMs, this.timed] = [message.reasoning_ms, true];
    this.done = message.error ? null : {
      finish_reason: message.finish_reason,
      ttft_ms: message.ttft_ms,
      total_ms: message.total_ms,
    };
    this.status = message.status;
    this.emit("replace");
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

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (ms <= 0) return resolve();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}

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
