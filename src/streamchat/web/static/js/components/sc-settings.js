// <sc-settings>: the per-conversation settings dialog (model, system prompt, temperature) and
// the export buttons. Events: sc-save-settings {model, system_prompt, temperature}, sc-export
// {format: "markdown"|"json"}.

import { t } from "../i18n.js";
import { fillModelSelect } from "../models.js";

export class ScSettings extends HTMLElement {
  connectedCallback() {
    if (this.dialog) return;
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
    this.dialog = this.querySelector("dialog");
    this.form = this.querySelector("form");
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    this.querySelector(".cancel").addEventListener("click", () => this.dialog.close());
    for (const [selector, format] of [[".export-md", "markdown"], [".export-json", "json"]]) {
      this.querySelector(selector).addEventListener("click", () => {
        this.dispatchEvent(new CustomEvent("sc-export", { bubbles: true, detail: { format } }));
      });
    }
  }

  /** Open with the conversation's current values; `canExport` when it exists on the server. */
  open({ model, system_prompt, params }, catalog, canExport) {
    for (const el of this.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    const form = this.form.elements;
    fillModelSelect(form.model, catalog, model);
    form.system_prompt.value = system_prompt || "";
    form.temperature.value = params?.temperature ?? "";
    form.temperature.placeholder = t("temperatureDefault");
    this.querySelector(".settings-export").hidden = !canExport;
    this.showError("");
    this.dialog.showModal();
  }

  save() {
    const form = this.form.elements;
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

  showError(message) {
    const box = this.querySelector(".settings-error");
    box.hidden = !message;
    box.textContent = message;
  }

  close() {
    this.dialog.close();
  }
}

customElements.define("sc-settings", ScSettings);
