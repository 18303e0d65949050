// <sc-sidebar>: the search box and the conversation list, newest first. Each entry is a link
// to #/c/{id} (with a dot while its answer streams) plus Rename and Delete. This module holds
// the list; the sidebar's other jobs are methods of ScSidebar kept in their own modules:
// sc-sidebar-rows.js (a row's Rename and Delete, by mouse or key), sc-sidebar-search.js (the
// search box and its results, shown in place of the list).
// Events: sc-rename {id, title}, sc-delete {id}, sc-more, sc-search-focus (the box was
// focused from the keyboard: a phone's drawer opens), sc-open-result {conversationId,
// messageId}.

/** @import { Conversation } from "../api-types.js" */
import { t } from "../i18n.js";
import { displayTitle } from "../titles.js";
import { rows } from "./sc-sidebar-rows.js";
import { searchBox } from "./sc-sidebar-search.js";

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
    this.list = /** @type {HTMLUListElement} */ (this.querySelector("ul.conv-list"));
    this.items = [];
    this.streaming = new Set();
    this.currentId = null;
    /** @type {HTMLButtonElement} */ (this.querySelector(".more")).addEventListener("click", () => {
      this.dispatchEvent(new CustomEvent("sc-more", { bubbles: true }));
    });
    this.setupRows();
    this.setupSearch();
  }

  /** Show `items` (conversation objects, newest first). @param {Conversation[]} items @param {boolean} hasMore */
  show(items, hasMore) {
    if (this.list.querySelector(".conv-title-input")) {
      this.deferred = /** @type {[Conversation[], boolean]} */ ([items, hasMore]); // not while a title is being edited
      return;
    }
    this.deferred = null;
    this.items = items;
    const focused = this.list.contains(document.activeElement) ? document.activeElement : null;
    const focusId = /** @type {HTMLElement | null | undefined} */ (focused?.closest("li.conv"))?.dataset.id;
    const focusClass = focused && [...focused.classList].find((c) => c.startsWith("conv-"));
    this.list.replaceChildren(...items.map((c) => this.entry(c)));
    if (focusId && focusClass) {
      /** @type {HTMLElement | null} */ (this.list.querySelector(`li[data-id="${CSS.escape(focusId)}"] .${focusClass}`))?.focus();
    }
    this.hasMore = hasMore;
    this.list.hidden = Boolean(this.searching);
    /** @type {HTMLElement} */ (this.querySelector(".conv-empty")).hidden = items.length > 0 || this.searching;
    /** @type {HTMLElement} */ (this.querySelector(".conv-empty")).textContent = t("noConversations");
    const more = /** @type {HTMLButtonElement} */ (this.querySelector(".more"));
    more.hidden = !hasMore || this.searching;
    more.textContent = t("loadMore");
    this.translateSearch();
  }

  /** @param {Conversation} conversation @returns {HTMLLIElement} */
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

  /** The conversation shown (its entry is marked), null for a new chat. @param {string | null} id */
  set current(id) {
    this.currentId = id;
    for (const link of this.list?.querySelectorAll(".conv-open") ?? []) {
      if (/** @type {HTMLElement} */ (link.parentElement).dataset.id === id) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  /** @param {string} id @param {boolean} on */
  setStreaming(id, on) {
    if (on) this.streaming.add(id);
    else this.streaming.delete(id);
    const dot = /** @type {HTMLElement | null | undefined} */ (this.list?.querySelector(`li[data-id="${CSS.escape(id)}"] .conv-dot`));
    if (dot) dot.hidden = !on;
  }
}

Object.assign(ScSidebar.prototype, rows, searchBox);

/** @param {string} className @param {string} glyph @param {string} label */
function iconButton(className, glyph, label) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `icon-btn ${className}`;
  button.textContent = glyph;
  button.setAttribute("aria-label", label);
  button.title = label;
  return button;
}

customElements.define("sc-sidebar", ScSidebar);
