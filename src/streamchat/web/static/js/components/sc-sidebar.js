// <sc-sidebar>: the search box and the conversation list, newest first. Each entry is a link
// to #/c/{id} plus Rename (inline input: Enter saves, Escape cancels) and Delete (a second
// click confirms). Search (issue 14): Ctrl/Cmd+K focuses the box; results come as one types
// (debounced) in place of the list; ArrowDown/ArrowUp choose, Enter opens, Escape clears.
// Events: sc-rename {id, title}, sc-delete {id}, sc-more, sc-search-focus (the box was
// focused from the keyboard: a phone's drawer opens), sc-open-result {conversationId,
// messageId}.

import { errorText } from "../feedback.js";
import { t } from "../i18n.js";
import { markedText, searchConversations } from "../search.js";
import { displayTitle } from "../titles.js";

const SEARCH_DEBOUNCE_MS = 200;
const APPLE = /Mac|iPhone|iPad/.test(navigator.platform); // the shortcut is ⌘K there

export class ScSidebar extends HTMLElement {
  connectedCallback() {
    if (this.list) return;
    this.innerHTML = `
      <div class="search" role="search">
        <input type="search" class="search-input" role="combobox" aria-expanded="false"
          aria-controls="search-results" aria-autocomplete="list" aria-keyshortcuts="Control+K Meta+K"
          autocomplete="off" spellcheck="false" maxlength="200">
        <p class="search-status muted" role="status" aria-live="polite"></p>
        <ul class="search-results" id="search-results" role="listbox" hidden></ul>
        <button type="button" class="btn search-more" hidden></button>
      </div>
      <ul class="conv-list"></ul>
      <p class="conv-empty muted" data-i18n="noConversations" hidden></p>
      <button type="button" class="btn more" data-i18n="loadMore" hidden></button>`;
    this.list = this.querySelector("ul.conv-list");
    this.items = [];
    this.streaming = new Set();
    this.currentId = null;
    this.querySelector(".more").addEventListener("click", () => {
      this.dispatchEvent(new CustomEvent("sc-more", { bubbles: true }));
    });
    this.list.addEventListener("click", (event) => this.onClick(event));
    this.list.addEventListener("keydown", (event) => this.onKey(event));
    this.list.addEventListener("focusout", (event) => {
      const del = event.target.closest?.(".conv-delete");
      if (del) resetDelete(del);
    });
    this.setupSearch();
  }

  /** Show `items` (conversation objects, newest first). */
  show(items, hasMore) {
    if (this.list.querySelector(".conv-title-input")) {
      this.deferred = [items, hasMore]; // not while a title is being edited
      return;
    }
    this.deferred = null;
    this.items = items;
    const focused = this.list.contains(document.activeElement) ? document.activeElement : null;
    const focusId = focused?.closest("li.conv")?.dataset.id;
    const focusClass = focused && [...focused.classList].find((c) => c.startsWith("conv-"));
    this.list.replaceChildren(...items.map((c) => this.entry(c)));
    if (focusId && focusClass) {
      this.list.querySelector(`li[data-id="${CSS.escape(focusId)}"] .${focusClass}`)?.focus();
    }
    this.hasMore = hasMore;
    this.list.hidden = Boolean(this.searching);
    this.querySelector(".conv-empty").hidden = items.length > 0 || this.searching;
    this.querySelector(".conv-empty").textContent = t("noConversations");
    const more = this.querySelector(".more");
    more.hidden = !hasMore || this.searching;
    more.textContent = t("loadMore");
    this.translateSearch();
  }

  entry(conversation) {
    const li = document.createElement("li");
    li.className = "conv";
    li.dataset.id = conversation.id;
    const title = displayTitle(conversation.title, t("untitled"));
    const link = document.createElement("a");
    link.className = "conv-open";
    link.href = `#/c/${encodeURIComponent(conversation.id)}`;
    link.textContent = title;
    link.title = title;
    if (conversation.id === this.currentId) link.setAttribute("aria-current", "page");
    const dot = document.createElement("span");
    dot.className = "conv-dot";
    dot.title = t("streamingDot");
    dot.hidden = !this.streaming.has(conversation.id);
    // one Tab stop per conversation: the link; F2 renames, Delete deletes (the buttons are for
    // the mouse and for touch, and stay out of the Tab order)
    link.setAttribute("aria-keyshortcuts", "F2 Delete");
    link.setAttribute("aria-description", t("renameKeys"));
    const rename = iconButton("conv-rename", "✎", t("renameTitle", { title }));
    const remove = iconButton("conv-delete", "✕", t("deleteTitle", { title }));
    rename.tabIndex = -1;
    remove.tabIndex = -1;
    li.append(link, dot, rename, remove);
    return li;
  }

  set current(id) {
    this.currentId = id;
    for (const link of this.list?.querySelectorAll(".conv-open") ?? []) {
      if (link.parentElement.dataset.id === id) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  setStreaming(id, on) {
    if (on) this.streaming.add(id);
    else this.streaming.delete(id);
    const dot = this.list?.querySelector(`li[data-id="${CSS.escape(id)}"] .conv-dot`);
    if (dot) dot.hidden = !on;
  }

  onClick(event) {
    const button = event.target.closest("button");
    const li = event.target.closest("li.conv");
    if (!button || !li) return;
    const id = li.dataset.id;
    if (button.classList.contains("conv-rename")) this.startRename(li);
    else if (button.classList.contains("conv-delete")) {
      if (button.classList.contains("confirming")) {
        this.dispatchEvent(new CustomEvent("sc-delete", { bubbles: true, detail: { id } }));
      } else {
        button.classList.add("confirming");
        button.textContent = t("deleteConfirm");
      }
    }
  }

  onKey(event) {
    const link = event.target.closest?.(".conv-open");
    if (!link) return;
    const li = link.closest("li.conv");
    if (event.key === "F2") {
      event.preventDefault();
      this.startRename(li);
    } else if (event.key === "Delete") {
      event.preventDefault();
      const button = li.querySelector(".conv-delete");
      if (button.classList.contains("confirming")) {
        this.dispatchEvent(new CustomEvent("sc-delete", { bubbles: true, detail: { id: li.dataset.id } }));
      } else {
        button.classList.add("confirming");
        button.textContent = t("deleteConfirm");
        link.addEventListener("blur", () => resetDelete(button), { once: true });
      }
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? "nextElementSibling" : "previousElementSibling";
      const next = li[step]?.querySelector(".conv-open");
      if (next) {
        event.preventDefault();
        next.focus();
      }
    }
  }

  startRename(li) {
    const link = li.querySelector(".conv-open");
    const input = document.createElement("input");
    input.className = "conv-title-input";
    input.value = link.textContent;
    input.maxLength = 200;
    input.setAttribute("aria-label", t("rename"));
    link.hidden = true;
    link.after(input);
    input.focus();
    input.select();
    let done = false;
    const finish = (save) => {
      if (done) return;
      done = true;
      const title = input.value.trim();
      input.remove();
      link.hidden = false;
      if (save && title && title !== link.textContent) {
        link.textContent = title;
        this.dispatchEvent(new CustomEvent("sc-rename", { bubbles: true, detail: { id: li.dataset.id, title } }));
      }
      link.focus();
      if (this.deferred) this.show(...this.deferred);
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        finish(true);
      } else if (event.key === "Escape") {
        finish(false);
      }
    });
    input.addEventListener("blur", () => finish(true));
  }
}

// -- search --------------------------------------------------------------------------------------

Object.assign(ScSidebar.prototype, {
  setupSearch() {
    this.searchInput = this.querySelector(".search-input");
    this.searchList = this.querySelector(".search-results");
    this.searchStatus = this.querySelector(".search-status");
    this.searchMore = this.querySelector(".search-more");
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
      const option = event.target.closest("li.search-hit");
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
    } catch (error) {
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
    } catch (error) {
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
    this.querySelector(".conv-empty").hidden = true;
    this.querySelector(".more").hidden = true;
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
    this.querySelector(".conv-empty").hidden = this.items.length > 0;
    this.querySelector(".more").hidden = !this.hasMore;
  },
});

function iconButton(className, glyph, label) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `icon-btn ${className}`;
  button.textContent = glyph;
  button.setAttribute("aria-label", label);
  button.title = label;
  return button;
}

function resetDelete(button) {
  if (!button.classList.contains("confirming")) return;
  button.classList.remove("confirming");
  button.textContent = "✕";
}

customElements.define("sc-sidebar", ScSidebar);
