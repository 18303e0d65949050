// <sc-sidebar>: the conversation list, newest first. Each entry is a link to #/c/{id} plus
// Rename (inline input: Enter saves, Escape cancels) and Delete (a second click confirms).
// Events: sc-rename {id, title}, sc-delete {id}, sc-more.

import { t } from "../i18n.js";
import { displayTitle } from "../titles.js";

export class ScSidebar extends HTMLElement {
  connectedCallback() {
    if (this.list) return;
    this.innerHTML = `
      <ul class="conv-list"></ul>
      <p class="conv-empty muted" data-i18n="noConversations" hidden></p>
      <button type="button" class="btn more" data-i18n="loadMore" hidden></button>`;
    this.list = this.querySelector("ul");
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
    this.querySelector(".conv-empty").hidden = items.length > 0;
    this.querySelector(".conv-empty").textContent = t("noConversations");
    const more = this.querySelector(".more");
    more.hidden = !hasMore;
    more.textContent = t("loadMore");
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
