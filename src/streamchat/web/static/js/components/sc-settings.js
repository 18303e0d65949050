// <sc-settings>: the per-conversation settings dialog (model, system prompt, temperature) and
// the export buttons. Events: sc-save-settings {model, system_prompt, temperature}, sc-export
// {format: "markdown"|"json"}.

import { t } from "../i18n.js";
import { fillModelSelect } from "../models.js";

/** @import { Conversation } from "../api-types.js" */
/** @import { Catalog } from "../models.js" */

/**
 * @typedef {HTMLFormControlsCollection & {model: HTMLSelectElement, system_prompt: HTMLTextAreaElement,
 *   temperature: HTMLInputElement}} SettingsFields
 */

export class ScSettings extends HTMLElement {
  connectedCallback() {
    if (/** @type {{dialog?: HTMLDialogElement}} */ (this).dialog) return; // built already
    this.innerHTML = `
      <dialog class="settings" aria-labelledby="settings-title">
        <form method="dialog" class="settings-form">
          <h2 id="settings-title" data-i18n="settings"></h2>
          <label><span data-i18n="model"></span><select name="model" class="settings-model"></select></label>
          <label><span data-i18n="systemPrompt"></span><textarea name="system_prompt" rows="4"></textarea></label>
          <label><span data-i18n="temperature"></span>
            <input name="temperature" type="number" min="0" max="2" step="0.1" inputmode="decimal"></label>
          <div class="settings-export">
            <span data-i18n="exportTitle"></span>
            <button type="button" class="btn export-md" data-i18n="exportMarkdown"></button>
            <button type="button" class="btn export-json" data-i18n="exportJson"></button>
          </div>
          <p class="settings-error" role="alert" hidden></p>
          <div class="settings-actions">
            <button type="button" class="btn cancel" data-i18n="cancel"></button>
            <button type="submit" class="btn primary save" data-i18n="save"></button>
          </div>
        </form>
      </dialog>`;
    /** @type {HTMLDialogElement} */
    this.dialog = /** @type {HTMLDialogElement} */ (this.querySelector("dialog"));
    /** @type {HTMLFormElement} */
    this.form = /** @type {HTMLFormElement} */ (this.querySelector("form"));
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    /** @type {HTMLElement} */ (this.querySelector(".cancel")).addEventListener("click", () => this.dialog.close());
    for (const [selector, format] of [[".export-md", "markdown"], [".export-json", "json"]]) {
      /** @type {HTMLElement} */ (this.querySelector(selector)).addEventListener("click", () => {
        this.dispatchEvent(new CustomEvent("sc-export", { bubbles: true, detail: { format } }));
      });
    }
  }

  /**
   * Open with the conversation's current values; `canExport` when it exists on the server.
   * @param {Pick<Conversation, "model" | "system_prompt" | "params">} conversation
   * @param {Catalog} catalog
   * @param {boolean} canExport
   */
  open({ model, system_prompt, params }, catalog, canExport) {
    /** @type {NodeListOf<HTMLElement>} */
    const texts = this.querySelectorAll("[data-i18n]");
    for (const el of texts) el.textContent = t(/** @type {string} */ (el.dataset.i18n));
    const form = /** @type {SettingsFields} */ (this.form.elements);
    fillModelSelect(form.model, catalog, model);
    form.system_prompt.value = system_prompt || "";
    form.temperature.value = /** @type {string} */ (params?.temperature ?? ""); // a number shows as its text
    form.temperature.placeholder = t("temperatureDefault");
    /** @type {HTMLElement} */ (this.querySelector(".settings-export")).hidden = !canExport;
    this.showError("");
    this.dialog.showModal();
  }

  save() {
    const form = /** @type {SettingsFields} */ (this.form.elements);
    const raw = form.temperature.value.trim();
    const temperature = raw === "" ? null : Number(raw);
    if (temperature !== null && !(temperature >= 0 && temperature <= 2)) {
      form.temperature.focus();
      return;
    }
    this.dispatchEvent(
      new CustomEvent("sc-save-settings", {
        bubbles: true,
        detail: { model: form.model.value, system_prompt: form.system_prompt.value, temperature },
      }),
    );
  }

  /** @param {string} message "": none */
  showError(message) {
    const box = /** @type {HTMLElement} */ (this.querySelector(".settings-error"));
    box.hidden = !message;
    box.textContent = message;
  }

  close() {
    this.dialog.close();
  }
}

customElements.define("sc-settings", ScSettings);
