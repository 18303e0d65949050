// <sc-sidebar>'s row menu: each conversation's Rename (an inline input: Enter saves, Escape
// cancels; the list is not redrawn meanwhile) and Delete (a second click, or a second Delete,
// confirms), from the mouse or from the keys on its link (F2 renames, Delete deletes,
// ArrowDown/ArrowUp move between the rows). Methods of ScSidebar (sc-sidebar.js), kept here by
// their job.

import { t } from "../i18n.js";
/** @import { ScSidebar } from "./sc-sidebar.js" */

/**
 * Methods of ScSidebar (sc-sidebar.js).
 * @satisfies {ThisType<ScSidebar> & Pick<ScSidebar, "setupRows" | "onClick" | "onKey" | "startRename">}
 */
export const rows = {
  setupRows() {
    this.list.addEventListener("click", (event) => this.onClick(event));
    this.list.addEventListener("keydown", (event) => this.onKey(event));
    this.list.addEventListener("focusout", (event) => {
      const del = /** @type {Element} */ (event.target).closest?.(".conv-delete");
      if (del) resetDelete(del);
    });
  },

  onClick(event) {
    const button = /** @type {Element} */ (event.target).closest("button");
    const li = /** @type {HTMLLIElement | null} */ (/** @type {Element} */ (event.target).closest("li.conv"));
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
  },

  onKey(event) {
    const link = /** @type {HTMLAnchorElement | null} */ (/** @type {Element} */ (event.target).closest?.(".conv-open"));
    if (!link) return;
    const li = /** @type {HTMLLIElement} */ (link.closest("li.conv"));
    if (event.key === "F2") {
      event.preventDefault();
      this.startRename(li);
    } else if (event.key === "Delete") {
      event.preventDefault();
      const button = /** @type {HTMLButtonElement} */ (li.querySelector(".conv-delete"));
      if (button.classList.contains("confirming")) {
        this.dispatchEvent(new CustomEvent("sc-delete", { bubbles: true, detail: { id: li.dataset.id } }));
      } else {
        button.classList.add("confirming");
        button.textContent = t("deleteConfirm");
        link.addEventListener("blur", () => resetDelete(button), { once: true });
      }
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? "nextElementSibling" : "previousElementSibling";
      const next = /** @type {HTMLAnchorElement | null | undefined} */ (li[step]?.querySelector(".conv-open"));
      if (next) {
        event.preventDefault();
        next.focus();
      }
    }
  },

  startRename(li) {
    const link = /** @type {HTMLAnchorElement} */ (li.querySelector(".conv-open"));
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
    const finish = (/** @type {boolean} */ save) => {
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
  },
};

/** @param {Element} button */
function resetDelete(button) {
  if (!button.classList.contains("confirming")) return;
  button.classList.remove("confirming");
  button.textContent = "✕";
}
