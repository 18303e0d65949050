// The page's controller: which conversation is shown, the runs started from it, and the wiring
// between the components (which only talk through CustomEvents) and the API.
//
// Routes: #/ is a new chat, #/c/{id} a conversation. Runs live in a RunRegistry, not in the
// DOM: switching conversation unbinds the bubbles and the runs keep reading; coming back binds
// the streaming answer's bubble to its run again (or re-attaches, after a reload).

import { api } from "./api.js";
import { download, fileName, toJSON, toMarkdown } from "./export.js";
import { announce, guard, toast } from "./feedback.js";
import { t } from "./i18n.js";
import { Catalog, fillModelSelect } from "./models.js";
import { Run, RunRegistry } from "./runs.js";
import { Follower } from "./scroller.js";
import { ensureSession } from "./session.js";
import "./components/sc-composer.js";
import "./components/sc-message.js";
import "./components/sc-settings.js";
import "./components/sc-sidebar.js";

const PAGE = 50;
const ROUTE = /^#\/c\/(.+)$/;

export class App {
  constructor() {
    const $ = (selector) => document.querySelector(selector);
    this.thread = $("#thread");
    this.sidebar = $("#conversations");
    this.composer = $("#composer");
    this.settings = $("#settings");
    this.modelSelect = $("#model");
    this.follower = new Follower($("#messages"), $("#jump"));
    this.runs = new RunRegistry();
    this.catalog = new Catalog();
    this.conversation = null; // the shown conversation (without messages), null for a new chat
    this.draft = { model: null, system_prompt: "", params: {} }; // settings of a new chat
    this.pendingRun = null; // a new chat's first run, until it knows its conversation
    this.list = [];
    this.opening = 0;
  }

  async start() {
    this.listen();
    await ensureSession();
    try {
      this.catalog = new Catalog(await api.models());
    } catch (error) {
      toast(error.message);
    }
    fillModelSelect(this.modelSelect, this.catalog, null);
    this.model = this.modelSelect.value;
    window.addEventListener("hashchange", () => this.route());
    await Promise.all([this.refreshList(), this.route()]);
    document.body.classList.add("ready");
  }

  listen() {
    const on = (target, type, handler) => target.addEventListener(type, handler);
    on(this.composer, "sc-send", (e) => this.send(e.detail.text));
    on(this.composer, "sc-stop", () => this.stop());
    on(this.thread, "sc-regenerate", (e) => this.regenerate(e.target));
    on(this.thread, "sc-edit", (e) => this.edit(e.target, e.detail.text));
    on(this.thread, "sc-retry", (e) => this.retry(e.target, e.detail.error));
    on(this.thread, "sc-rendered", () => this.follower.onContent());
    on(this.sidebar, "sc-rename", (e) => this.rename(e.detail.id, e.detail.title));
    on(this.sidebar, "sc-delete", (e) => this.remove(e.detail.id));
    on(this.sidebar, "sc-more", () => this.refreshList(this.list.length));
    on(this.sidebar, "click", (e) => e.target.closest(".conv-open") && this.navOpen(false));
    // The skip link focuses the input without touching the hash, which is the route: following
    // its href would leave the open conversation (and clear an answer just sent).
    on(document.querySelector("a.skip"), "click", (e) => {
      e.preventDefault();
      this.composer.focus();
    });
    on(this.modelSelect, "change", () => this.chooseModel(this.modelSelect.value));
    on(this.settings, "sc-save-settings", (e) => this.saveSettings(e.detail));
    on(this.settings, "sc-export", (e) => this.exportAs(e.detail.format));
    on(document.querySelector("#new-chat"), "click", () => this.newChat());
    on(document.querySelector("#settings-btn"), "click", () => this.openSettings());
    on(document.querySelector("#menu"), "click", () => this.navOpen(!document.body.classList.contains("nav-open")));
    on(document.querySelector("#scrim"), "click", () => this.navOpen(false));
    on(document, "keydown", (e) => {
      if (e.key === "Escape" && document.body.classList.contains("nav-open")) {
        this.navOpen(false);
        document.querySelector("#menu").focus();
      }
    });
  }

  // -- navigation -------------------------------------------------------------------------------

  route() {
    const match = location.hash.match(ROUTE);
    return match ? this.open(decodeURIComponent(match[1])) : this.showNew();
  }

  newChat() {
    this.navOpen(false);
    if (location.hash.match(ROUTE)) location.hash = "#/";
    else this.showNew();
    this.composer.focus();
  }

  showNew() {
    this.opening++;
    this.conversation = null;
    this.draft = { model: this.catalog.pick(this.draft.model || this.model), system_prompt: "", params: {} };
    this.setModel(this.draft.model);
    this.sidebar.current = null;
    this.thread.replaceChildren();
    delete this.thread.dataset.conversation;
    if (this.pendingRun && !this.pendingRun.finished && !this.pendingRun.conversationId) {
      this.pendingRun = null; // it carries on; the list shows it once it has its conversation
    }
    this.updateView();
  }

  async open(id) {
    const ticket = ++this.opening;
    let conversation;
    try {
      conversation = await api.conversation(id);
    } catch (error) {
      if (ticket !== this.opening) return;
      if (error.status === 404) location.hash = "#/";
      toast(error.message);
      return;
    }
    if (ticket !== this.opening) return;
    const { messages, ...fields } = conversation;
    this.conversation = fields;
    const lastModel = messages.findLast((m) => m.role === "assistant")?.model;
    this.setModel(this.catalog.pick(fields.model || lastModel || this.model));
    this.sidebar.current = id;
    this.renderThread(messages);
    this.thread.dataset.conversation = id;
    this.follower.toBottom();
  }

  renderThread(messages) {
    this.thread.replaceChildren();
    for (const message of messages) {
      if (message.role === "user") this.addUser(message.content, message.id);
      else if (message.role === "assistant") {
        const bubble = this.addAssistant();
        if (message.status === "streaming") bubble.bindRun(this.runFor(message));
        else bubble.showStored(message);
      }
    }
    this.updateView();
  }

  /** The run of a streaming stored answer: the one this page follows, or a re-attach. */
  runFor(message) {
    const known = this.runs.forGeneration(message.id);
    if (known) return known;
    const run = this.track(new Run({ conversationId: this.conversation.id, origin: { kind: "attach" } }));
    const resume = message.last_event_id > 0 && Boolean(message.content || message.reasoning);
    run.attach(
      message.id,
      resume ? message.last_event_id : 0,
      resume ? { text: message.content, reasoning: message.reasoning } : null,
    );
    return run;
  }

  navOpen(open) {
    document.body.classList.toggle("nav-open", open);
    document.querySelector("#menu").setAttribute("aria-expanded", String(open));
  }

  // -- asking -----------------------------------------------------------------------------------

  activeRun() {
    if (this.conversation) return this.runs.forConversation(this.conversation.id);
    return this.pendingRun && !this.pendingRun.finished ? this.pendingRun : null;
  }

  async send(text) {
    await this.afterStop();
    let conversationId = this.conversation?.id ?? null;
    if (!conversationId && (this.draft.system_prompt || Object.keys(this.draft.params).length)) {
      const created = await guard(api.createConversation({
        title: text.split(/\s+/).filter(Boolean).join(" ").slice(0, 80) || undefined,
        model: this.model,
        system_prompt: this.draft.system_prompt || null,
        params: this.draft.params,
      }));
      if (!created) return;
      this.adopt(created);
      conversationId = created.id;
    }
    this.addUser(text);
    const body = { message: text, conversation_id: conversationId ?? undefined, model: this.model };
    this.begin(new Run({ conversationId, origin: { kind: "chat", message: text } }), (signal) =>
      api.chat(body, signal),
    );
  }

  regenerate(bubble) {
    const id = this.conversation?.id;
    if (!id || this.activeRun()) return;
    bubble.remove();
    const run = new Run({ conversationId: id, origin: { kind: "regenerate" } });
    this.begin(run, (signal) => api.regenerate(id, { model: this.model }, signal));
  }

  edit(userBubble, text) {
    const id = this.conversation?.id;
    if (!id || this.activeRun()) return;
    while (userBubble.nextElementSibling) userBubble.nextElementSibling.remove();
    userBubble.remove();
    this.addUser(text);
    const run = new Run({ conversationId: id, origin: { kind: "edit", message: text } });
    this.begin(run, (signal) => api.edit(id, { message: text, model: this.model }, signal));
  }

  async retry(bubble, error) {
    if (this.activeRun()) return;
    const origin = bubble.source?.origin;
    if (error?.code === "connection_lost" && bubble.messageId && this.conversation) {
      const run = this.track(new Run({ conversationId: this.conversation.id, origin: { kind: "attach" } }));
      bubble.bindRun(run);
      run.attach(bubble.messageId, 0);
      return;
    }
    const id = this.conversation?.id;
    const stored = id ? await guard(api.conversation(id)) : null;
    const last = stored?.messages.at(-1);
    if (last?.role === "assistant") this.regenerate(bubble);
    else if (last?.role === "user") this.edit(bubble.previousElementSibling ?? bubble, last.content);
    else if (origin?.message) {
      bubble.previousElementSibling?.remove();
      bubble.remove();
      this.send(origin.message);
    }
  }

  begin(run, open) {
    this.track(run);
    if (!run.conversationId) this.pendingRun = run;
    const bubble = this.addAssistant();
    bubble.bindRun(run);
    this.updateView();
    this.follower.toBottom();
    run.start(open);
  }

  track(run) {
    this.runs.add(run);
    run.addEventListener("change", (event) => this.onRun(run, event.detail));
    return run;
  }

  onRun(run, type) {
    if (type === "meta") {
      this.sidebar.setStreaming(run.conversationId, true);
      if (run === this.pendingRun && !this.conversation) {
        const title = run.origin.message.split(/\s+/).filter(Boolean).join(" ").slice(0, 80);
        this.adopt({ id: run.conversationId, title, model: run.model, system_prompt: null, params: {} });
        this.updateView();
      }
      this.refreshList();
    } else if (type === "stopping") {
      this.updateView();
    } else if (type === "end") {
      if (run.conversationId) this.sidebar.setStreaming(run.conversationId, false);
      if (run === this.pendingRun) this.pendingRun = null;
      const shown = this.conversation && run.conversationId === this.conversation.id;
      if (shown) {
        const key = run.status === "stopped" ? "answerStopped" : run.error ? "answerFailed" : "answerDone";
        announce(t(key, { message: run.error?.message ?? "" }));
      }
      this.updateView();
      this.refreshList();
    }
  }

  /** A new chat got its conversation: show it as such without reloading the thread. */
  adopt(conversation) {
    this.conversation = conversation;
    history.replaceState(null, "", `#/c/${encodeURIComponent(conversation.id)}`);
    this.thread.dataset.conversation = conversation.id;
    this.sidebar.current = conversation.id;
  }

  stop() {
    const run = this.activeRun();
    if (!run) return;
    run.stop();
    this.updateView(); // the input is usable again at once
    this.composer.focus();
  }

  /** Before a new question: let a stopping answer reach its end (at most 5 s). */
  async afterStop() {
    const run = this.activeRun();
    if (run?.stopping) await Promise.race([run.ended, new Promise((r) => setTimeout(r, 5000))]);
  }

  // -- the thread -------------------------------------------------------------------------------

  addUser(text, id = null) {
    const bubble = document.createElement("sc-message").setup("user");
    bubble.showUser(text, id);
    this.thread.append(bubble);
    return bubble;
  }

  addAssistant() {
    const bubble = document.createElement("sc-message").setup("assistant");
    this.thread.append(bubble);
    return bubble;
  }

  updateView() {
    const run = this.activeRun();
    this.composer.busy = Boolean(run && !run.stopping);
    this.thread.classList.toggle("busy", Boolean(run));
    const bubbles = [...this.thread.children];
    const lastUser = bubbles.findLast((b) => b.kind === "user");
    const lastAnswer = bubbles.findLast((b) => b.kind === "assistant");
    for (const bubble of bubbles) bubble.classList.toggle("last", bubble === lastUser || bubble === lastAnswer);
    document.querySelector("#empty").hidden = bubbles.length > 0;
    const title = this.conversation?.title;
    document.querySelector("#title").textContent = title || t("newChat");
    document.title = title ? `${title} · streamchat` : "streamchat";
  }

  // -- conversations ----------------------------------------------------------------------------

  async refreshList(offset = 0) {
    const page = await guard(api.conversations(PAGE, offset));
    if (!page) return;
    this.list = offset ? [...this.list, ...page.conversations] : page.conversations;
    this.sidebar.show(this.list, page.has_more);
  }

  async rename(id, title) {
    const updated = await guard(api.updateConversation(id, { title }));
    if (updated && this.conversation?.id === id) {
      this.conversation.title = updated.title;
      this.updateView();
    }
    this.refreshList();
  }

  async remove(id) {
    const deleted = await guard(api.deleteConversation(id).then(() => true));
    if (!deleted) return;
    if (this.conversation?.id === id) this.newChat();
    this.refreshList();
  }

  // -- model and settings -----------------------------------------------------------------------

  setModel(id) {
    this.model = id;
    this.modelSelect.value = id;
    const notice = document.querySelector("#demo-notice");
    notice.hidden = !this.catalog.isDemo(id);
    const [before, after = ""] = t("demoNotice").split("{command}");
    const command = document.createElement("code");
    command.textContent = "MOONSHOT_API_KEY=sk-... streamchat serve";
    notice.replaceChildren(before, command, after);
  }

  async chooseModel(id) {
    this.setModel(id);
    if (!this.conversation) this.draft.model = id;
    else await guard(api.updateConversation(this.conversation.id, { model: id }));
  }

  openSettings() {
    const values = this.conversation ?? this.draft;
    this.settings.open({ ...values, model: this.model }, this.catalog, Boolean(this.conversation));
  }

  async saveSettings({ model, system_prompt, temperature }) {
    const values = this.conversation ?? this.draft;
    const params = { ...(values.params || {}) };
    if (temperature === null) delete params.temperature;
    else params.temperature = temperature;
    if (this.conversation) {
      const fields = { model, system_prompt, params };
      try {
        this.conversation = await api.updateConversation(this.conversation.id, fields);
      } catch (error) {
        this.settings.showError(error.message);
        return;
      }
    } else {
      this.draft = { model, system_prompt, params };
    }
    this.setModel(model);
    this.settings.close();
    announce(t("settingsSaved"));
  }

  async exportAs(format) {
    if (!this.conversation) return;
    const conversation = await guard(api.conversation(this.conversation.id));
    if (!conversation) return;
    if (format === "json") download(fileName(conversation, "json"), toJSON(conversation), "application/json");
    else download(fileName(conversation, "md"), toMarkdown(conversation), "text/markdown");
  }

  /** Redraw every text after a language switch. */
  retranslate() {
    this.composer.translate();
    this.sidebar.show(this.list, !this.sidebar.querySelector(".more").hidden);
    this.route();
  }
}
