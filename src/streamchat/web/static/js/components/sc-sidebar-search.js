// <sc-sidebar>'s search (issue 14): Ctrl/Cmd+K focuses the box; results come as one types
// (debounced) in place of the list; ArrowDown/ArrowUp choose, Enter opens, Escape clears; More
// results reads the next page. The request and a result's marks are search.js's. Methods of
// ScSidebar (sc-sidebar.js), kept here by their job.

import { errorText } from "../feedback.js";
import { t } from "../i18n.js";
import { markedText, searchConversations } from "../search.js";
import { displayTitle } from "../titles.js";
/** @import { ScSidebar } from "./sc-sidebar.js" */
/** @import { SearchResult } from "../api-types.js" */

const SEARCH_DEBOUNCE_MS = 200;
const APPLE = /Mac|iPhone|iPad/.test(navigator.platform); // the shortcut is ⌘K there

/**
 * Methods of ScSidebar (sc-sidebar.js).
 * @satisfies {ThisType<ScSidebar> & Pick<ScSidebar, "setupSearch" | "translateSearch" | "runSearch" | "moreHits" | "showHits" | "hitEntry" | "markActive" | "onSearchKey" | "openHit" | "endSearch">}
 */
export const searchBox = {
  setupSearch() {
    this.searchInput = /** @type {HTMLInputElement} */ (this.querySelector(".search-input"));
    this.searchList = /** @type {HTMLUListElement} */ (this.querySelector(".search-results"));
    this.searchStatus = /** @type {HTMLElement} */ (this.querySelector(".search-status"));
    this.searchMore = /** @type {HTMLButtonElement} */ (this.querySelector(".search-more"));
    this.searchMore.addEventListener("click", () => this.moreHits());
    this.hits = [];
    this.active = -1;
    this.searching = false;
    this.searchInput.addEventListener("input", () => {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => this.runSearch(), SEARCH_DEBOUNCE_MS);
    });
    this.searchInput.addEventListener("keydown", (event) => this.onSearchKey(event));
    this.searchList.addEventListener("click", (event) => {
      const option = /** @type {HTMLLIElement | null} */ (/** @type {Element} */ (event.target).closest("li.search-hit"));
      if (option) this.openHit(Number(option.dataset.index));
    });
    document.addEventListener("keydown", (event) => {
      if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "k") {
        event.preventDefault();
        this.dispatchEvent(new CustomEvent("sc-search-focus", { bubbles: true }));
        this.searchInput.focus();
        this.searchInput.select();
      }
    });
    this.translateSearch();
  },

  translateSearch() {
    if (!this.searchInput) return;
    this.searchInput.placeholder = t("searchPlaceholder", { keys: APPLE ? "⌘K" : "Ctrl+K" });
    this.searchInput.setAttribute("aria-label", t("searchLabel"));
    if (this.searching && !this.searchError) this.showHits(this.hits, this.searchQuery, this.active);
  },

  async runSearch() {
    const q = this.searchInput.value.trim();
    this.searchAbort?.abort();
    if (!q) {
      this.endSearch();
      return;
    }
    const abort = (this.searchAbort = new AbortController());
    try {
      const page = await searchConversations(q, { signal: abort.signal });
      if (abort.signal.aborted) return;
      this.searchError = null;
      this.searchHasMore = page.has_more;
      this.showHits(page.results, q);
    } catch (/** @type {any} */ error) {
      if (error?.name === "AbortError" || abort.signal.aborted) return;
      this.searchError = error;
      this.searchHasMore = false;
      this.showHits([], q);
      this.searchStatus.textContent = errorText(error);
    }
  },

  /** The next page of results, after those shown (the choice stays where it was). */
  async moreHits() {
    const q = this.searchQuery;
    const abort = (this.searchAbort = new AbortController());
    try {
      const page = await searchConversations(q, { offset: this.hits.length, signal: abort.signal });
      if (abort.signal.aborted || q !== this.searchQuery) return;
      this.searchHasMore = page.has_more;
      const first = this.hits.length;
      this.showHits([...this.hits, ...page.results], q, this.active);
      this.searchList.children[first]?.scrollIntoView({ block: "nearest" });
      this.searchInput.focus();
    } catch (/** @type {any} */ error) {
      if (error?.name === "AbortError" || abort.signal.aborted) return;
      this.searchStatus.textContent = errorText(error);
    }
  },

  showHits(hits, q, active = 0) {
    this.searching = true;
    this.searchQuery = q;
    this.hits = hits;
    this.active = hits.length ? Math.min(active, hits.length - 1) : -1;
    this.searchList.replaceChildren(...hits.map((hit, i) => this.hitEntry(hit, i)));
    this.searchList.hidden = hits.length === 0;
    this.list.hidden = true;
    /** @type {HTMLElement} */ (this.querySelector(".conv-empty")).hidden = true;
    /** @type {HTMLElement} */ (this.querySelector(".more")).hidden = true;
    this.searchInput.setAttribute("aria-expanded", String(hits.length > 0));
    const more = Boolean(this.searchHasMore && hits.length);
    this.searchMore.hidden = !more;
    this.searchMore.textContent = t("searchMore");
    const n = more ? `${hits.length}+` : hits.length;
    this.searchStatus.textContent = hits.length ? t("searchResults", { n }) : t("searchNone", { q });
    this.markActive();
  },

  hitEntry(hit, index) {
    const li = document.createElement("li");
    li.className = "search-hit";
    li.id = `search-hit-${index}`;
    li.setAttribute("role", "option");
    li.dataset.index = String(index);
    li.dataset.conversation = hit.conversation_id;
    if (hit.message_id) li.dataset.message = hit.message_id;
    const title = document.createElement("span");
    title.className = "search-title";
    const shown = displayTitle(hit.title, t("untitled"));
    title.append(...(shown === hit.title ? markedText(hit.title, hit.title_marks) : [shown]));
    li.append(title);
    if (hit.message_id) {
      const snippet = document.createElement("span");
      snippet.className = "search-snippet";
      const role = document.createElement("span");
      role.className = "search-role";
      role.textContent = t(hit.role === "user" ? "searchYou" : "searchAssistant");
      snippet.append(role, " ", ...markedText(hit.snippet, hit.marks));
      li.append(snippet);
    }
    return li;
  },

  markActive() {
    for (const [i, option] of [...this.searchList.children].entries()) {
      option.setAttribute("aria-selected", String(i === this.active));
    }
    const option = this.searchList.children[this.active];
    if (option) {
      this.searchInput.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    } else {
      this.searchInput.removeAttribute("aria-activedescendant");
    }
  },

  onSearchKey(event) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!this.hits.length) return;
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.active = (this.active + step + this.hits.length) % this.hits.length;
      this.markActive();
    } else if (event.key === "Enter") {
      event.preventDefault();
      clearTimeout(this.searchTimer);
      if (this.searchInput.value.trim() !== this.searchQuery) this.runSearch();
      else if (this.active >= 0) this.openHit(this.active);
    } else if (event.key === "Escape") {
      if (this.searchInput.value) {
        event.stopPropagation(); // the first Escape clears the search, the next closes a drawer
        event.preventDefault();
        this.searchInput.value = "";
        this.searchAbort?.abort();
        clearTimeout(this.searchTimer);
        this.endSearch();
      } else {
        this.searchInput.blur();
      }
    }
  },

  openHit(index) {
    const hit = this.hits[index];
    if (!hit) return;
    this.dispatchEvent(new CustomEvent("sc-open-result", {
      bubbles: true,
      detail: { conversationId: hit.conversation_id, messageId: hit.message_id },
    }));
  },

  endSearch() {
    this.searching = false;
    this.searchQuery = "";
    this.searchError = null;
    this.hits = [];
    this.active = -1;
    this.searchList.replaceChildren();
    this.searchList.hidden = true;
    this.searchMore.hidden = true;
    this.searchHasMore = false;
    this.searchStatus.textContent = "";
    this.searchInput.setAttribute("aria-expanded", "false");
    this.searchInput.removeAttribute("aria-activedescendant");
    this.list.hidden = false;
    /** @type {HTMLElement} */ (this.querySelector(".conv-empty")).hidden = this.items.length > 0;
    /** @type {HTMLElement} */ (this.querySelector(".more")).hidden = !this.hasMore;
  },
};
