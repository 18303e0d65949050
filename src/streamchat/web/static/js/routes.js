// The routes of the page (#/ a new chat, #/c/{id} a conversation) and the view they show: which
// conversation, its thread drawn from the stored path, and the runs of its streaming answers.
// Methods of App (app.js), kept here by their job.

import { api } from "./api.js";
import { announce, errorText, guard, toast } from "./feedback.js";
import { t } from "./i18n.js";
import { Run } from "./runs.js";
import { displayTitle } from "./titles.js";
/** @import { App } from "./app.js" */
/** @import { Conversation } from "./api-types.js" */

export const ROUTE = /^#\/c\/(.+)$/;

/**
 * Methods of App (app.js).
 * @satisfies {ThisType<App> & Pick<App, "route" | "newChat" | "showNew" | "open" | "renderThread" | "runFor" | "navOpen" | "updateView" | "showVersion" | "refreshVersions" | "adopt">}
 */
export const routing = {
  route() {
    const match = location.hash.match(ROUTE);
    return match ? this.open(decodeURIComponent(match[1])) : this.showNew();
  },

  newChat() {
    this.navOpen(false);
    if (location.hash.match(ROUTE)) location.hash = "#/";
    else this.showNew();
    this.composer.focus();
  },

  showNew() {
    this.opening++;
    this.conversation = null;
    this.draft = { model: this.catalog.pick(this.draft.model || this.model), system_prompt: "", params: {} };
    this.setModel(/** @type {string} */ (this.draft.model)); // picked: a model that exists
    this.sidebar.current = null;
    this.view = { run: null }; // another chat's run carries on, but is no longer this view's
    this.thread.clear();
    delete this.thread.el.dataset.conversation;
    this.updateView();
  },

  async open(id) {
    const ticket = ++this.opening;
    let conversation;
    try {
      conversation = await api.conversation(id);
    } catch (/** @type {any} */ error) {
      if (ticket !== this.opening) return;
      if (error.status === 404) location.hash = "#/";
      toast(errorText(error));
      return;
    }
    if (ticket !== this.opening) return;
    const { messages, ...fields } = conversation;
    this.conversation = fields;
    this.view = { run: null };
    const lastModel = messages.findLast((m) => m.role === "assistant")?.model;
    this.setModel(this.catalog.pick(fields.model || lastModel || this.model));
    this.sidebar.current = id;
    this.renderThread(messages);
    this.thread.el.dataset.conversation = id;
    this.follower.toBottom();
  },

  renderThread(messages) {
    this.thread.render(messages, (message) => this.runFor(message));
    this.loadExtras(messages); // files and tool chips (kimi.js)
    this.updateView();
  },

  /** The run of a streaming stored answer: the one this page follows, or a re-attach. */
  runFor(message) {
    const known = this.runs.forGeneration(message.id);
    if (known) return known;
    // the thread drawn is the shown conversation's
    const run = this.track(new Run({ conversationId: /** @type {Conversation} */ (this.conversation).id, origin: { kind: "attach" } }));
    this.sidebar.setStreaming(/** @type {Conversation} */ (this.conversation).id, true); // a re-attached run gets no `meta`
    run.model = message.model ?? null; // a resumed re-attach starts past the `meta` that names it
    const resume = /** @type {number} */ (message.last_event_id) > 0 && Boolean(message.content || message.reasoning);
    run.attach(
      message.id,
      resume ? /** @type {number} */ (message.last_event_id) : 0,
      resume ? { text: message.content, reasoning: message.reasoning, reasoningMs: message.reasoning_ms } : null,
    );
    return run;
  },

  navOpen(open) {
    document.body.classList.toggle("nav-open", open);
    /** @type {HTMLElement} */ (document.querySelector("#menu")).setAttribute("aria-expanded", String(open));
  },

  updateView() {
    const run = this.activeRun();
    this.composer.busy = Boolean(run && !run.stopping);
    this.thread.lock(Boolean(run));
    /** @type {HTMLElement} */ (document.querySelector("#empty")).hidden = !this.thread.empty;
    const title = this.conversation ? displayTitle(this.conversation.title, t("untitled")) : null;
    /** @type {HTMLElement} */ (document.querySelector("#title")).textContent = title || t("newChat");
    document.title = title ? `${title} · streamchat` : "streamchat";
  },

  /** Show another version of a message: the server moves the conversation to its branch. */
  async showVersion(id, step) {
    if (!this.conversation || this.activeRun()) return;
    const view = this.view;
    const conversation = await guard(api.showBranch(this.conversation.id, id));
    if (!conversation || view !== this.view) return;
    const { messages, ...fields } = conversation;
    this.conversation = { ...this.conversation, ...fields };
    this.renderThread(messages);
    const bubble = this.thread.focusVersion(id, step);
    if (bubble) announce(t("versionOf", { n: bubble.siblingIds.indexOf(id) + 1, m: bubble.siblingIds.length }));
  },

  /** Count the versions again once an answer ended (another tab may have added some). */
  async refreshVersions() {
    const id = this.conversation?.id;
    if (!id) return;
    const tree = await guard(api.conversation(id, { tree: true }));
    if (tree && this.conversation?.id === id) this.thread.setVersions(tree.messages);
  },

  /** A new chat got its conversation: show it as such without reloading the thread. */
  adopt(conversation) {
    this.conversation = conversation;
    this.switchKey = conversation.id; // the switches chosen for the new chat stay
    history.replaceState(null, "", `#/c/${encodeURIComponent(conversation.id)}`);
    this.thread.el.dataset.conversation = conversation.id;
    this.sidebar.current = conversation.id;
  },
};
