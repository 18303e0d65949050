// Conversation search (issue 14): GET /api/search, a result's text with its matches marked
// (built from text nodes and <mark>: the server sends plain text and offsets, never markup),
// and opening a result at its message. The box and the list are <sc-sidebar>'s
// (sc-sidebar-search.js); `search` holds methods of App (app.js), kept here by their job.

import { api, ApiError } from "./api.js";
import { guard } from "./feedback.js";
/** @import { App } from "./app.js" */
/** @import { Thread } from "./branches.js" */
/** @import { SearchPage } from "./api-types.js" */

export const SEARCH_LIMIT = 20;
const FOUND_MS = 2000; // how long the message opened from a result stays highlighted

/**
 * The results of `q` (GET /api/search): {results, has_more}; throws ApiError.
 * @param {string} q @param {{offset?: number, signal?: AbortSignal}} [options] @returns {Promise<SearchPage>}
 */
export async function searchConversations(q, { offset = 0, signal } = {}) {
  const query = new URLSearchParams({ q, limit: String(SEARCH_LIMIT), offset: String(offset) });
  let response;
  try {
    response = await fetch(`/api/search?${query}`, { signal, cache: "no-store" });
  } catch (/** @type {any} */ cause) {
    if (cause?.name === "AbortError") throw cause;
    throw ApiError.network(cause);
  }
  if (response.status === 401) document.dispatchEvent(new CustomEvent("sc-unauthorized"));
  if (!response.ok) throw await ApiError.fromResponse(response);
  return response.json();
}

/**
 * `text` as nodes, the `marks` ([start, end) in code points) in <mark> elements.
 * @param {string} text @param {[number, number][]} marks @returns {Node[]}
 */
export function markedText(text, marks) {
  const chars = Array.from(text);
  const nodes = [];
  let at = 0;
  for (const [start, end] of marks) {
    if (start < at || end <= start) continue;
    if (start > at) nodes.push(document.createTextNode(chars.slice(at, start).join("")));
    const mark = document.createElement("mark");
    mark.textContent = chars.slice(start, end).join("");
    nodes.push(mark);
    at = end;
  }
  if (at < chars.length) nodes.push(document.createTextNode(chars.slice(at).join("")));
  return nodes;
}

/** Wait (at most `ms`) until the thread has drawn its stored answers: heights are final. @param {Thread} thread @returns {Promise<void>} */
function drawn(thread, ms = 3000) {
  const until = performance.now() + ms;
  return new Promise(/** @param {(value?: void) => void} resolve */ (resolve) => {
    const check = () => {
      if (!("rendering" in thread.el.dataset) || performance.now() > until) resolve();
      else requestAnimationFrame(check);
    };
    check();
  });
}

/** Scroll `scroller` so that `element` is in its middle (its top, when taller than it). @param {HTMLElement} scroller @param {Element} element */
function centre(scroller, element) {
  const box = element.getBoundingClientRect();
  const view = scroller.getBoundingClientRect();
  const room = Math.max(0, scroller.clientHeight - box.height) / 2;
  scroller.scrollTop += box.top - view.top - room;
}

/**
 * Methods of App (app.js).
 * @satisfies {ThisType<App> & Pick<App, "openResult">}
 */
export const search = {
  /** Open a search result: its conversation, on the branch of its message, scrolled to it. */
  async openResult({ conversationId, messageId }) {
    this.navOpen(false);
    const hash = `#/c/${encodeURIComponent(conversationId)}`;
    if (location.hash !== hash) history.pushState(null, "", hash);
    await this.open(conversationId);
    if (this.conversation?.id !== conversationId) return;
    if (!messageId) {
      this.composer.focus();
      return;
    }
    const view = this.view;
    let bubble = this.thread.bubbles.find((b) => b.messageId === messageId);
    if (!bubble) {
      // on another branch of the tree: the server moves the conversation there
      const shown = await guard(api.showBranch(conversationId, messageId));
      if (!shown || view !== this.view) return;
      const { messages, ...fields } = shown;
      this.conversation = { ...this.conversation, ...fields };
      this.renderThread(messages);
      bubble = this.thread.bubbles.find((b) => b.messageId === messageId);
    }
    if (!bubble) return;
    this.follower.stick = false; // the slices drawn next must not pull the view to the bottom
    centre(this.follower.el, bubble);
    await drawn(this.thread);
    if (view !== this.view) return;
    centre(this.follower.el, bubble);
    bubble.tabIndex = -1;
    bubble.focus({ preventScroll: true });
    bubble.classList.add("search-found");
    setTimeout(() => bubble.classList.remove("search-found"), FOUND_MS);
  },
};
