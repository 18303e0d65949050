// The model picker and the demo notice, the settings dialog, export, and redrawing the texts
// after a language switch. Methods of App (app.js), kept here by their job.

import { api } from "./api.js";
import { download, fileName, toJSON, toMarkdown } from "./export.js";
import { announce, guard } from "./feedback.js";
import { t } from "./i18n.js";
/** @import { App } from "./app.js" */

/**
 * Methods of App (app.js).
 * @satisfies {ThisType<App> & Pick<App, "setModel" | "chooseModel" | "openSettings" | "saveSettings" | "exportAs" | "retranslate">}
 */
export const settings = {
  setModel(id) {
    this.model = id;
    this.modelSelect.value = id;
    this.offerFor(id); // what the composer offers for it (kimi.js)
    const notice = /** @type {HTMLElement} */ (document.querySelector("#demo-notice"));
    notice.hidden = !this.catalog.isDemo(id) || demoNoticeDismissed();
    const [before, after = ""] = t("demoNotice").split("{command}");
    const command = document.createElement("code");
    command.textContent = "MOONSHOT_API_KEY=sk-... streamchat serve";
    const close = document.createElement("button");
    close.type = "button";
    close.className = "icon-btn notice-close";
    close.textContent = "✕";
    close.setAttribute("aria-label", t("dismiss"));
    close.title = t("dismiss");
    close.addEventListener("click", () => {
      notice.hidden = true;
      dismissDemoNotice();
      this.composer.focus();
    });
    notice.replaceChildren(before, command, after, close);
  },

  async chooseModel(id) {
    this.setModel(id);
    if (!this.conversation) this.draft.model = id;
    else await guard(api.updateConversation(this.conversation.id, { model: id }));
  },

  openSettings() {
    const values = this.conversation ?? this.draft;
    this.settings.open({ ...values, model: this.model }, this.catalog, Boolean(this.conversation));
  },

  async saveSettings({ model, system_prompt, temperature }) {
    const values = this.conversation ?? this.draft;
    const params = { ...(values.params || {}) };
    if (temperature === null) delete params.temperature;
    else params.temperature = temperature;
    if (this.conversation) {
      const fields = { model, system_prompt, params };
      try {
        this.conversation = await api.updateConversation(this.conversation.id, fields);
      } catch (/** @type {any} */ error) {
        this.settings.showError(error.message);
        return;
      }
    } else {
      this.draft = { model, system_prompt, params };
    }
    this.setModel(model);
    this.settings.close();
    announce(t("settingsSaved"));
  },

  async exportAs(format) {
    if (!this.conversation) return;
    const conversation = await guard(api.conversation(this.conversation.id));
    if (!conversation) return;
    const files = (await guard(api.attachments(conversation.id)))?.attachments ?? {};
    if (format === "json") download(fileName(conversation, "json"), toJSON(conversation, files), "application/json");
    else download(fileName(conversation, "md"), toMarkdown(conversation, files), "text/markdown");
  },

  /** Redraw every text after a language switch, in place: the thread and its scroll stay. */

  retranslate() {
    this.composer.translate();
    this.sidebar.show(this.list, !/** @type {HTMLElement} */ (this.sidebar.querySelector(".more")).hidden);
    this.thread.retranslate();
    this.setModel(this.model);
    this.updateView();
  },
};


const NOTICE_KEY = "streamchat.demoNotice";

function demoNoticeDismissed() {
  try {
    return globalThis.localStorage?.getItem(NOTICE_KEY) === "dismissed";
  } catch {
    return false;
  }
}

function dismissDemoNotice() {
  try {
    globalThis.localStorage?.setItem(NOTICE_KEY, "dismissed");
  } catch {
    // private mode: dismissed for this page only
  }
}

