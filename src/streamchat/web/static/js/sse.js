// Server-sent events from a fetch() Response, as an async generator of typed events.
//
// Spec line splitting (CR, LF or CRLF, also when a CRLF is split across chunks), `data` lines
// joined with "\n", comments ignored, `id` remembered across events, `retry` reported; bytes
// decoded with one streaming TextDecoder so a character split across chunks stays whole. Each
// buffer is bounded: a line or an event over `maxBytes` characters is an error, never unbounded
// growth. Non-2xx responses become an ApiError before any event is read.

import { ApiError } from "./api.js";

export const MAX_EVENT_CHARS = 4 * 1024 * 1024;

/** @typedef {{id: string, event: string, data: string}} RawEvent an event as the spec defines it */
/** @typedef {{id: number, type: string, data: any}} StreamEvent a streamchat event: `data` is its JSON (docs/api.md) */

/** The line and event state machine of the SSE spec, fed with decoded text. */
export class SSEParser {
  constructor(maxChars = MAX_EVENT_CHARS) {
    this.maxChars = maxChars;
    this.buffer = "";
    /** @type {string[]} */
    this.data = [];
    this.dataChars = 0;
    this.type = "";
    this.lastId = "";
    /** @type {number | null} */
    this.retry = null;
    this.pendingCR = false;
  }

  /**
   * Feed decoded text; returns the events it completed, as {id, event, data}.
   * @param {string} text
   * @returns {RawEvent[]}
   */
  feed(text) {
    /** @type {RawEvent[]} */
    const events = [];
    let start = 0;
    if (this.pendingCR && text.startsWith("\n")) start = 1; // the LF of a CRLF split in two
    this.pendingCR = false;
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(this.buffer + text.slice(start, i), events);
      this.buffer = "";
      if (c === 13) {
        if (i + 1 === text.length) this.pendingCR = true;
        else if (text.charCodeAt(i + 1) === 10) i++;
      }
      start = i + 1;
    }
    this.buffer += text.slice(start);
    if (this.buffer.length > this.maxChars) {
      throw new ApiError({ code: "stream_invalid", message: "an SSE line is too long" });
    }
    return events;
  }

  /** @param {string} line @param {RawEvent[]} events */
  line(line, events) {
    if (line === "") {
      this.dispatch(events);
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ":" comment, e.g. ": ping"
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === "data") {
      this.data.push(value);
      this.dataChars += value.length + 1;
      if (this.dataChars > this.maxChars) {
        throw new ApiError({ code: "stream_invalid", message: "an SSE event is too long" });
      }
    } else if (field === "event") {
      this.type = value;
    } else if (field === "id") {
      if (!value.includes("\0")) this.lastId = value;
    } else if (field === "retry") {
      if (/^\d+$/.test(value)) this.retry = Number(value);
    }
  }

  /** @param {RawEvent[]} events */
  dispatch(events) {
    if (this.data.length > 0) {
      events.push({ id: this.lastId, event: this.type || "message", data: this.data.join("\n") });
    }
    this.data = [];
    this.dataChars = 0;
    this.type = "";
  }
}

/**
 * Read a streamchat SSE response to its end: yields {id: number, type, data: object}.
 * Throws ApiError for a non-2xx response; fetch's own errors (network, abort) propagate.
 * `onRetry(ms)` hears the server's `retry:` field.
 * @param {Response} response
 * @param {{signal?: AbortSignal, onRetry?: (ms: number | null) => void}} [options]
 * @returns {AsyncGenerator<StreamEvent, void, undefined>}
 */
export async function* readEvents(response, { signal, onRetry } = {}) {
  if (!response.ok) throw await ApiError.fromResponse(response);
  if (!response.body) return;
  const reader = response.body.getReader();
  const decoder = new TextDecoder("utf-8");
  const parser = new SSEParser();
  let retry = null;
  try {
    for (;;) {
      signal?.throwIfAborted();
      const { value, done } = await reader.read();
      const events = done ? parser.feed(decoder.decode()) : parser.feed(decoder.decode(value, { stream: true }));
      if (parser.retry !== retry) {
        retry = parser.retry;
        onRetry?.(retry);
      }
      for (const raw of events) yield typed(raw);
      if (done) return;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/** @param {RawEvent} raw @returns {StreamEvent} */
function typed(raw) {
  let data;
  try {
    data = JSON.parse(raw.data);
  } catch {
    throw new ApiError({ code: "stream_invalid", message: `event ${raw.id} is not JSON` });
  }
  return { id: Number(raw.id) || 0, type: raw.event, data };
}
