// The streamchat HTTP API, one function per endpoint. JSON endpoints resolve to the parsed body;
// streaming endpoints resolve to the Response (read it with sse.js). Every failure is an ApiError
// carrying the server's {code, message, retryable, retry_after}; a network failure is the
// retryable code "network". A 401 outside /api/session also dispatches "sc-unauthorized" on the
// document (session.js asks the user to sign in again). What the calls resolve to (the server's
// JSON) is typed in api-types.js.

/** @import { AttachmentMap, CapabilityList, Conversation, ConversationList, ErrorBody } from "./api-types.js" */
/** @import { FileInfo, Message, ModelList, Session } from "./api-types.js" */

export class ApiError extends Error {
  /**
   * @param {ErrorBody & Record<string, unknown>} [body]
   * @param {number} [status] the HTTP status (0: none)
   */
  constructor({ code = "error", message = "", retryable = false, retry_after = null, ...details } = {}, status = 0) {
    super(message || code);
    this.code = code;
    this.retryable = Boolean(retryable);
    this.retryAfter = retry_after ?? null;
    this.status = status;
    this.details = details; // what the message says, as fields (reason, limit, length, ...)
  }

  /** The error a failed response describes (its JSON `error`, else its status line). @param {Response} response */
  static async fromResponse(response) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      // not JSON: described by the status line below
    }
    const error = body && typeof body.error === "object" ? body.error : null;
    const header = Number(response.headers.get("retry-after"));
    const retryAfter = Number.isFinite(header) && header > 0 ? header : null;
    if (error) return new ApiError({ ...error, retry_after: error.retry_after ?? retryAfter }, response.status);
    return new ApiError(
      {
        code: `http_${response.status}`,
        message: `${response.status} ${response.statusText}`.trim(),
        retryable: response.status >= 500 || response.status === 429,
        retry_after: retryAfter,
      },
      response.status,
    );
  }

  /** @param {any} cause what fetch or XMLHttpRequest threw */
  static network(cause) {
    const error = new ApiError({ code: "network", message: String(cause?.message || cause), retryable: true });
    error.cause = cause;
    return error;
  }

  toJSON() {
    return { ...this.details, code: this.code, message: this.message, retryable: this.retryable, retry_after: this.retryAfter };
  }
}

const SESSION = "/api/session";

/**
 * @param {string} method
 * @param {string} path
 * @param {{body?: unknown, headers?: Record<string, string>, signal?: AbortSignal}} [options]
 * @returns {Promise<Response>}
 */
async function send(method, path, { body, headers = {}, signal } = {}) {
  /** @type {RequestInit & {headers: Record<string, string>}} */
  const init = { method, headers: { ...headers }, signal, cache: "no-store" };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (/** @type {any} */ cause) {
    if (cause?.name === "AbortError") throw cause;
    throw ApiError.network(cause);
  }
  if (response.status === 401 && path !== SESSION) document.dispatchEvent(new CustomEvent("sc-unauthorized"));
  return response;
}

/**
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>} the parsed body (null for a 204): each endpoint below says its type
 */
async function json(method, path, body) {
  const response = await send(method, path, { body });
  if (!response.ok) throw await ApiError.fromResponse(response);
  return response.status === 204 ? null : response.json();
}

const enc = encodeURIComponent;

export const api = {
  /** {user, auth_required}: who the page is signed in as (null: nobody). @returns {Promise<Session>} */
  session: () => json("GET", SESSION),
  /** Exchange an API token for the session cookie (401: not a valid token). */
  /** @param {string} token @returns {Promise<Session>} */
  signIn: (token) => json("POST", SESSION, { token }),
  signOut: () => json("DELETE", SESSION),
  /** @returns {Promise<ModelList>} */
  models: () => json("GET", "/api/models"),
  /** @returns {Promise<ConversationList>} */
  conversations: (limit = 50, offset = 0) => json("GET", `/api/conversations?limit=${limit}&offset=${offset}`),
  /**
   * The conversation with its current path (`tree`: with every message of every branch).
   * @param {string} id
   * @returns {Promise<Conversation & {messages: Message[]}>}
   */
  conversation: (id, { tree = false } = {}) =>
    json("GET", `/api/conversations/${enc(id)}${tree ? "?tree=true" : ""}`),
  /**
   * The conversation (no messages) once its model has written its title (at most ~12 s).
   * @param {string} id
   * @returns {Promise<Conversation>}
   */
  conversationTitle: (id) => json("GET", `/api/conversations/${enc(id)}/title`),
  /** @param {Partial<Conversation>} fields @returns {Promise<Conversation>} */
  createConversation: (fields) => json("POST", "/api/conversations", fields),
  /** @param {string} id @param {Partial<Conversation>} fields @returns {Promise<Conversation>} */
  updateConversation: (id, fields) => json("PATCH", `/api/conversations/${enc(id)}`, fields),
  /**
   * Show the branch through `messageId`: the conversation with its new current path.
   * @param {string} id
   * @param {string} messageId
   * @returns {Promise<Conversation & {messages: Message[]}>}
   */
  showBranch: (id, messageId) =>
    json("PATCH", `/api/conversations/${enc(id)}`, { current_message_id: messageId }),
  /** @param {string} id @returns {Promise<null>} */
  deleteConversation: (id) => json("DELETE", `/api/conversations/${enc(id)}`),
  /** @param {string} generationId @returns {Promise<{id: string, stopped: boolean}>} */
  stop: (generationId) => json("POST", `/api/generations/${enc(generationId)}/stop`),

  /**
   * POST /api/chat {message, conversation_id?, parent_id?, model?}: the answer's SSE Response.
   * @param {object} body
   * @param {AbortSignal} [signal]
   */
  chat: (body, signal) => send("POST", "/api/chat", { body, signal }),
  /** What each model can take (vision, switches, Continue) and the upload limits. @returns {Promise<CapabilityList>} */
  capabilities: () => json("GET", "/api/capabilities"),
  /** @param {string} id @returns {Promise<null>} */
  deleteFile: (id) => json("DELETE", `/api/files/${enc(id)}`),
  /**
   * {attachments: {question_id: [file, ...]}} of a conversation.
   * @param {string} id
   * @returns {Promise<{attachments: AttachmentMap}>}
   */
  attachments: (id) => json("GET", `/api/conversations/${enc(id)}/attachments`),
  /**
   * More of answer `answerId`, cut at its length (partial mode): a stream into the same answer.
   * @param {string} answerId
   * @param {AbortSignal} [signal]
   */
  continueAnswer: (answerId, signal) => send("POST", `/api/messages/${enc(answerId)}/continue`, { signal }),
  /**
   * A new version of answer `answerId` (a sibling, answering the same question).
   * @param {string} answerId
   * @param {object} body
   * @param {AbortSignal} [signal]
   */
  regenerate: (answerId, body, signal) =>
    send("POST", `/api/messages/${enc(answerId)}/regenerate`, { body, signal }),
  /**
   * A new version of question `questionId` with the text `body.message`, and its answer.
   * @param {string} questionId
   * @param {{message: string, model?: string | null} & Switches} body
   * @param {AbortSignal} [signal]
   */
  edit: (questionId, body, signal) =>
    send("POST", `/api/messages/${enc(questionId)}/edit`, { body, signal }),
  /**
   * Re-attach to a generation after event `after` (204: finished, 410: events expired).
   * @param {string} generationId
   * @param {number} after
   * @param {AbortSignal} [signal]
   */
  events: (generationId, after, signal) =>
    send("GET", `/api/generations/${enc(generationId)}/events`, {
      headers: { "last-event-id": String(after) },
      signal,
    }),
};

/**
 * POST /api/files (multipart field `file`) through XMLHttpRequest, whose upload reports its
 * progress (fetch cannot): {promise (the file's description), abort}. onProgress(0..1).
 * @param {Blob & {name?: string}} file
 * @param {(fraction: number) => void} [onProgress]
 * @returns {{promise: Promise<FileInfo>, abort: () => void}}
 */
export function upload(file, onProgress) {
  const xhr = new XMLHttpRequest();
  /** @type {Promise<FileInfo>} */
  const promise = new Promise((resolve, reject) => {
    xhr.open("POST", "/api/files");
    xhr.upload.addEventListener("progress", (e) => e.lengthComputable && onProgress?.(e.loaded / e.total));
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // not JSON: described by the status below
      }
      if (xhr.status === 201 && body) return resolve(body);
      if (xhr.status === 401) document.dispatchEvent(new CustomEvent("sc-unauthorized"));
      const fallback = { code: `http_${xhr.status}`, message: `${xhr.status} ${xhr.statusText}`.trim() };
      reject(new ApiError(body && typeof body.error === "object" ? body.error : fallback, xhr.status));
    });
    xhr.addEventListener("error", () => reject(ApiError.network(new Error("the upload failed"))));
    xhr.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    const form = new FormData();
    form.append("file", file, file.name || "pasted");
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}
