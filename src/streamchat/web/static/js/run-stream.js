// How a Run reads a generation's events (from POST /api/chat, regenerate, edit, or a re-attach)
// to the end: each one is applied in order (Run.apply, runs.js). Methods of Run (runs.js), kept
// here by their job.
//
// A dropped connection re-attaches to the same generation with the last event id it applied
// (GET /api/generations/{id}/events, Last-Event-ID), with exponential backoff; events at or
// below that id are ignored, so nothing is duplicated. 204 or 410 there means the answer ended
// (or its events expired): the stored message is then read from the conversation.

import { api, ApiError } from "./api.js";
import { readEvents } from "./sse.js";

const MAX_ATTEMPTS = 8;

/** @import { Run } from "./runs.js" */

/**
 * Methods of Run (declared on it in tools/js/types/page.d.ts)
 * @satisfies {ThisType<Run> & Pick<Run, "start" | "attach" | "follow" | "reopen" | "read" | "settleFromStore">}
 */
export const reading = {
  /**
   * Open the stream with `open(signal) -> Promise<Response>` and follow it to its end.
   * @param {(signal: AbortSignal) => Promise<Response>} open
   * @returns {Promise<Run>}
   */
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
  },

  /**
   * Re-attach to generation `id` after event `after`; `prefill` is what that id already showed.
   * @param {string} id
   * @param {number} [after]
   * @param {{text?: string, reasoning?: string | null, reasoningMs?: number | null} | null} [prefill]
   * @returns {Promise<Run>}
   */
  attach(id, after = 0, prefill = null) {
    this.id = id;
    this.lastId = after;
    if (prefill) {
      this.text = prefill.text || "";
      this.reasoning = prefill.reasoning || "";
      this.thought(prefill.reasoningMs);
    }
    return this.follow(null);
  },

  /** @param {Response | null} response null: re-attach first @returns {Promise<Run>} */
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
  },

  /**
   * One re-attach attempt: a Response to read, or null to try again (or when settled).
   * @param {number} attempt
   * @returns {Promise<Response | null>}
   */
  async reopen(attempt) {
    const delay = attempt === 0 && !this.lastId ? 0 : Math.min(8000, 500 * 2 ** attempt);
    this.reconnecting = attempt > 0 || this.lastId > 0;
    this.emit("reconnecting");
    try {
      await sleep(delay * (0.85 + Math.random() * 0.3), this.abort.signal);
      const response = await api.events(/** @type {string} */ (this.id), this.lastId, this.abort.signal);
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
  },

  /** @param {Response} response @returns {Promise<void>} */
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
  },

  /** Take the final state from the stored message, when the live events are gone. @returns {Promise<void>} */
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
    this.thought(message.reasoning_ms);
    this.done = message.error ? null : {
      finish_reason: message.finish_reason,
      ttft_ms: message.ttft_ms,
      total_ms: message.total_ms,
    };
    this.status = message.status;
    this.emit("replace");
  },
};

/** @param {number} ms @param {AbortSignal} [signal] @returns {Promise<void>} */
function sleep(ms, signal) {
  return new Promise((/** @type {(value?: void) => void} */ resolve, reject) => {
    if (ms <= 0) return resolve();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });
}
