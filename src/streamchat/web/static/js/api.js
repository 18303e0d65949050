// The streamchat HTTP API, one function per endpoint. JSON endpoints resolve to the parsed body;
// streaming endpoints resolve to the Response (read it with sse.js). Every failure is an ApiError
// carrying the server's {code, message, retryable, retry_after}; a network failure is the
// retryable code "network". A 401 outside /api/session also dispatches "sc-unauthorized" on the
// document (session.js asks the user to sign in again).

export class ApiError extends Error {
  constructor({ code = "error", message = "", retryable = false, retry_after = null, ...details } = {}, status = 0) {
    super(message || code);
    this.code = code;
    this.retryable = Boolean(retryable);
    this.retryAfter = retry_after ?? null;
    this.status = status;
    this.details = details; // what the message says, as fields (reason, limit, length, ...)
  }

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

async function send(method, path, { body, headers = {}, signal } = {}) {
  const init = { method, headers: { ...headers }, signal, cache: "no-store" };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (cause) {
    if (cause?.name === "AbortError") throw cause;
    throw ApiError.network(cause);
  }
  if (response.status === 401 && path !== SESSION) document.dispatchEvent(new CustomEvent("sc-unauthorized"));
  return response;
}

async function json(method, path, body) {
  const response = await send(method, path, { body });
  if (!response.ok) throw await ApiError.fromResponse(response);
  return response.status === 204 ? null : response.json();
}

const enc = encodeURIComponent;

export const api = {
  /** {user, auth_required}: who the page is signed in as (null: nobody). */
  session: () => json("GET", SESSION),
  /** Exchange an API token for the session cookie (401: not a valid token). */
  signIn: (token) => json("POST", SESSION, { token }),
  signOut: () => json("DELETE", SESSION),
  models: () => json("GET", "/api/models"),
  conversations: (limit = 50, offset = 0) => json("GET", `/api/conversations?limit=${limit}&offset=${offset}`),
  /** The conversation with its current path (`tree`: with every message of every branch). */
  conversation: (id, { tree = false } = {}) =>
    json("GET", `/api/conversations/${enc(id)}${tree ? "?tree=true" : ""}`),
  /** The conversation (no messages) once its model has written its title (at most ~12 s). */
  conversationTitle: (id) => json("GET", `/api/conversations/${enc(id)}/title`),
  createConversation: (fields) => json("POST", "/api/conversations", fields),
  updateConversation: (id, fields) => json("PATCH", `/api/conversations/${enc(id)}`, fields),
  /** Show the branch through `messageId`: the conversation with its new current path. */
  showBranch: (id, messageId) =>
    json("PATCH", `/api/conversations/${enc(id)}`, { current_message_id: messageId }),
  deleteConversation: (id) => json("DELETE", `/api/conversations/${enc(id)}`),
  stop: (generationId) => json("POST", `/api/generations/${enc(generationId)}/stop`),

  /** POST /api/chat {message, conversation_id?, parent_id?, model?}: the answer's SSE Response. */
  chat: (body, signal) => send("POST", "/api/chat", { body, signal }),
  /** What each model can take (vision, switches, Continue) and the upload limits. */
  capabilities: () => json("GET", "/api/capabilities"),
  deleteFile: (id) => json("DELETE", `/api/files/${enc(id)}`),
  /** {attachments: {question_id: [file, ...]}} of a conversation. */
  attachments: (id) => json("GET", `/api/conversations/${enc(id)}/attachments`),
  /** More of answer `answerId`, cut at its length (partial mode): a stream into the same answer. */
  continueAnswer: (answerId, signal) => send("POST", `/api/messages/${enc(answerId)}/continue`, { signal }),
  /** A new version of answer `answerId` (a sibling, answering the same question). */
  regenerate: (answerId, body, signal) =>
    send("POST", `/api/messages/${enc(answerId)}/regenerate`, { body, signal }),
  /** A new version of question `questionId` with the text `body.message`, and its answer. */
  edit: (questionId, body, signal) =>
    send("POST", `/api/messages/${enc(questionId)}/edit`, { body, signal }),
  /** Re-attach to a generation after event `after` (204: finished, 410: events expired). */
  events: (generationId, after, signal) =>
    send("GET", `/api/generations/${enc(generationId)}/events`, {
      headers: { "last-event-id": String(after) },
      signal,
    }),
};

/**
 * POST /api/files (multipart field `file`) through XMLHttpRequest, whose upload reports its
 * progress (fetch cannot): {promise (the file's description), abort}. onProgress(0..1).
 */
export function upload(file, onProgress) {
  const xhr = new XMLHttpRequest();
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
