// The page's controller: which conversation is shown, the runs started from it, and the wiring
// between the components (which only talk through CustomEvents) and the API. This module holds
// the wiring and the asking; its other jobs are methods of App kept in their own modules:
// routes.js (the routes, the view, the thread drawn), tracking.js (what each run's events do to
// the page, a refused action put back), conversations.js (the sidebar's list), settings.js
// (model, settings, export, language), search.js (opening a result), kimi.js (issue 13).
//
// Routes: #/ is a new chat, #/c/{id} a conversation. Runs live in a RunRegistry, not in the
// DOM: switching conversation unbinds the bubbles and the runs keep reading; coming back binds
// the streaming answer's bubble to its run again (or re-attaches, after a reload).
//
// Each time a chat is shown it is a new view; a run belongs to the view it was started from.
// The composer's Stop, and adopting a new chat's conversation, only ever concern the shown
// view's run (or the shown conversation's): a new chat opened while another chat's first answer
// streams is idle, and its Stop cannot stop the other answer.

import { api } from "./api.js";
import { ask, Thread } from "./branches.js";
import { conversations } from "./conversations.js";
import { errorText, guard, toast } from "./feedback.js";
import { Catalog, fillModelSelect } from "./models.js";
import { routing } from "./routes.js";
import { Run, RunRegistry } from "./runs.js";
import { search } from "./search.js";
import { kimi } from "./kimi.js";
import { settings } from "./settings.js";
import { Follower } from "./scroller.js";
import { ensureSession } from "./session.js";
import { questionTitle } from "./titles.js";
import { tracking } from "./tracking.js";
/** @import { Conversation, ErrorBody, FileInfo } from "./api-types.js" */
/** @import { Asked } from "./branches.js" */
/** @import { Origin } from "./runs.js" */
/** @import { ScMessage } from "./components/sc-message.js" */
import "./components/sc-composer.js";
import "./components/sc-settings.js";
import "./components/sc-sidebar.js";

export class App {
  constructor() {
    /** @param {string} selector @returns {any} the element, which the page's markup has */
    const $ = (selector) => document.querySelector(selector);
    this.thread = new Thread($("#thread"));
    /** @type {HTMLElementTagNameMap["sc-sidebar"]} */
    this.sidebar = $("#conversations");
    /** @type {HTMLElementTagNameMap["sc-composer"]} */
    this.composer = $("#composer");
    /** @type {HTMLElementTagNameMap["sc-settings"]} */
    this.settings = $("#settings");
    /** @type {HTMLSelectElement} */
    this.modelSelect = $("#model");
    this.follower = new Follower($("#messages"), $("#jump"));
    this.runs = new RunRegistry();
    this.catalog = new Catalog();
    /** @type {Conversation | null} */
    this.conversation = null; // the shown conversation (without messages), null for a new chat
    /** @type {Draft} */
    this.draft = { model: null, system_prompt: "", params: {} }; // settings of a new chat
    /** @type {AppView} */
    this.view = { run: null }; // the chat shown, and the run started from it
    /** @type {WeakMap<Run, Asked>} */
    this.asked = new WeakMap(); // run -> the bubbles of its action: {question, answer, taken}
    /** @type {Conversation[]} */
    this.list = [];
    this.opening = 0;
  }

  async start() {
    this.listen();
    await ensureSession();
    try {
      this.catalog = new Catalog(await api.models());
    } catch (/** @type {any} */ error) {
      toast(errorText(error));
    }
    await this.loadCapabilities();
    fillModelSelect(this.modelSelect, this.catalog, null);
    this.model = this.modelSelect.value;
    window.addEventListener("hashchange", () => this.route());
    await Promise.all([this.refreshList(), this.route()]);
    document.body.classList.add("ready");
  }

  listen() {
    /**
     * @template {keyof HTMLElementEventMap} K
     * @param {EventTarget | null} target @param {K} type
     * @param {(event: HTMLElementEventMap[K] & {target: any}) => void} handler (`target`: the bubble or element the event came from)
     */
    const on = (target, type, handler) => /** @type {EventTarget} */ (target).addEventListener(type, /** @type {EventListener} */ (handler));
    on(this.composer, "sc-send", (e) => this.send(e.detail.text, e.detail.files));
    on(this.composer, "sc-stop", () => this.stop());
    const thread = this.thread.el;
    on(thread, "sc-regenerate", (e) => this.regenerate(e.target));
    on(thread, "sc-continue", (e) => this.continueAnswer(e.target));
    on(thread, "sc-edit", (e) => this.edit(e.target, e.detail.text));
    on(thread, "sc-retry", (e) => this.retry(e.target, e.detail.error));
    on(thread, "sc-resend", (e) => this.resend(e.target));
    on(thread, "sc-edit-resend", (e) => e.target.previousElementSibling?.startEdit());
    on(thread, "sc-version", (e) => this.showVersion(e.detail.id, e.detail.step));
    on(thread, "sc-rendered", () => this.follower.onContent());
    on(this.sidebar, "sc-rename", (e) => this.rename(e.detail.id, e.detail.title));
    on(this.sidebar, "sc-delete", (e) => this.remove(e.detail.id));
    on(this.sidebar, "sc-more", () => this.loadMore());
    on(this.sidebar, "sc-search-focus", () => this.navOpen(true));
    on(this.sidebar, "sc-open-result", (e) => this.openResult(e.detail));
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
        /** @type {HTMLElement} */ (document.querySelector("#menu")).focus();
      }
    });
  }

  // -- asking -----------------------------------------------------------------------------------

  /** The run of the view shown, else the answer streaming in the shown conversation. */
  activeRun() {
    const own = this.view.run;
    if (own && !own.finished) return own;
    return this.conversation ? this.runs.forConversation(this.conversation.id) : null;
  }

  /** @param {string} text @param {FileInfo[]} [files] */
  async send(text, files = []) {
    await this.afterStop();
    let conversationId = this.conversation?.id ?? null;
    if (!conversationId && (this.draft.system_prompt || Object.keys(this.draft.params).length)) {
      const created = await guard(api.createConversation({
        title: questionTitle(text) || undefined,
        model: this.model,
        system_prompt: this.draft.system_prompt || null,
        params: this.draft.params,
      }));
      if (!created) return;
      this.adopt(created);
      conversationId = created.id;
    }
    this.thread.dropUnsent();
    this.begin({ kind: "chat", message: text, conversationId, parentId: this.thread.lastAnswerId(), files });
  }

  /**
   * A new version of this answer (Regenerate on any answer, Retry on a stored error).
   * @param {ScMessage} answer
   */
  regenerate(answer) {
    if (!answer.messageId || !this.conversation || this.activeRun()) return;
    this.begin({ kind: "regenerate", answerId: answer.messageId, conversationId: this.conversation.id }, answer);
  }

  /**
   * A new version of this question; for one never stored, the same request with the new text.
   * @param {ScMessage} question @param {string} text
   */
  edit(question, text) {
    if (this.activeRun()) question.startEdit(text); // an answer started meanwhile: keep the text
    else if (question.unsent) {
      const origin = /** @type {ScMessage | null} */ (question.nextElementSibling)?.source?.origin;
      if (origin) this.begin({ ...origin, message: text }, question);
    } else if (question.messageId && this.conversation) {
      const origin = /** @type {const} */ ({ kind: "edit", message: text, questionId: question.messageId });
      this.begin({ ...origin, conversationId: this.conversation.id }, question);
    }
  }

  /**
   * Resend a question the server never stored, exactly as it was asked (the same parent).
   * @param {ScMessage} answer
   */
  resend(answer) {
    const question = /** @type {ScMessage | null} */ (answer.previousElementSibling);
    if (this.activeRun() || !question?.unsent || !answer.source?.origin) return;
    this.begin(answer.source.origin, question);
  }

  /** @param {ScMessage} answer @param {ErrorBody | null | undefined} error */
  retry(answer, error) {
    if (this.activeRun() || !answer.messageId) return;
    if (error?.code === "connection_lost" && this.conversation) {
      const run = this.track(new Run({ conversationId: this.conversation.id, origin: { kind: "attach" } }));
      answer.bindRun(run);
      run.attach(answer.messageId, 0);
    } else {
      this.regenerate(answer);
    }
  }

  /**
   * Start `origin`, shown in place of `from` and what follows it (put back when refused).
   * @param {Origin} origin @param {ScMessage | null} [from]
   */
  begin(origin, from = null) {
    const taken = from ? this.thread.cut(from) : [];
    const question = origin.kind === "regenerate" ? null : this.thread.addQuestion(/** @type {string} */ (origin.message));
    if (question) this.questionFiles(question, origin, from);
    const run = this.track(new Run({ conversationId: origin.conversationId, origin }));
    run.view = this.view;
    this.view.run = run;
    const answer = this.thread.addAnswer();
    this.asked.set(run, { question, answer, taken });
    answer.bindRun(run);
    this.updateView();
    this.follower.toBottom();
    run.start((signal) => ask(origin, this.model, signal, this.composer.switchValues));
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
}

// issue 13: attachments, the switches, tool chips, Continue (kimi.js)
Object.assign(App.prototype, kimi);
// the other jobs of the controller, each in its module
Object.assign(App.prototype, routing, tracking, conversations, settings, search);
