// Issue 13 in the controller: the capabilities (what the selected model offers the composer),
// the conversation's switches (web search, thinking: kept by the server in the conversation's
// params, sent with every start), a question's files in the thread (live and after a reload),
// the tool chips of stored answers (replayed from the server's events while it keeps them), and
// Continue into the same bubble. Methods of App (app.js), kept here by their job.

import { api } from "./api.js";
import { showFiles } from "./attachment-chips.js";
import { capabilities } from "./capabilities.js";
import { dropZone } from "./components/sc-composer.js";
import { errorText, toast } from "./feedback.js";
import { Run } from "./runs.js";
import { readEvents } from "./sse.js";
import { drawTools, mergeTool } from "./tools.js";
/** @import { App } from "./app.js" */
/** @import { Conversation, Message, Usage } from "./api-types.js" */
/** @import { ToolCall } from "./tools.js" */

/** @type {(keyof Switches)[]} */
const SWITCHES = ["web_search", "thinking"];
const TOOL_REPLAY_MS = 30_000; // a stored answer's tool events are looked for this long at most

/**
 * Methods of App (app.js).
 * @satisfies {ThisType<App> & Pick<App, "loadCapabilities" | "offerFor" | "questionFiles" | "loadExtras" | "replayTools" | "continueAnswer">}
 */
export const kimi = {
  async loadCapabilities() {
    try {
      capabilities.load(await api.capabilities());
    } catch {
      // an older server, or none: nothing is offered, and the server checks everything anyway
    }
    // files dropped anywhere on the thread go to the composer, as on the composer itself
    dropZone(/** @type {HTMLElement} */ (document.querySelector("#messages")), (files) => this.composer.addFiles(files));
  },

  /** The selected model changed (or the conversation shown): what the composer offers. */
  offerFor(model) {
    const key = this.conversation?.id ?? null;
    if (this.switchKey === undefined || key !== this.switchKey) {
      const params = this.conversation?.params ?? {};
      this.switchKey = key;
      this.composer.offer({ ...capabilities.of(model), id: model }, Object.fromEntries(
        SWITCHES.filter((name) => params[name] !== undefined && params[name] !== null).map((name) => [name, params[name]]),
      ));
    } else {
      this.composer.offer({ ...capabilities.of(model), id: model }, this.composer.values);
    }
  },

  /** A question just asked shows its files (an edited one keeps those of the question it edits). */
  questionFiles(question, origin, from) {
    showFiles(question, origin.files ?? (origin.kind === "edit" ? from?.files : null));
  },

  /** After the thread was drawn from the store: the questions' files, the answers' tool chips. */
  async loadExtras(messages) {
    const id = this.conversation?.id;
    const view = this.view;
    if (!id || !messages.length) return;
    const found = await api.attachments(id).catch(() => null);
    if (view !== this.view) return;
    for (const bubble of this.thread.bubbles) {
      const files = found?.attachments?.[/** @type {string} */ (bubble.messageId)]; // none for a question never stored
      if (bubble.kind === "user" && files) showFiles(bubble, files);
    }
    // the same view: the same conversation
    if (/** @type {Conversation} */ (this.conversation).params?.web_search === undefined) return; // never searched here
    for (const bubble of this.thread.bubbles) {
      if (bubble.kind === "assistant" && bubble.messageId) this.replayTools(bubble);
    }
  },

  /**
   * The tool chips of an answer drawn from the store, which keeps no tool events: its events
   * are asked for again while the server keeps them (replay_ttl), read until the answer's
   * text starts (Kimi searches before it writes).
   */
  async replayTools(bubble) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), TOOL_REPLAY_MS);
    /** @type {ToolCall[]} */
    const tools = [];
    try {
      const response = await api.events(/** @type {string} */ (bubble.messageId), 0, abort.signal);
      if (response.status !== 200) return;
      for await (const event of readEvents(response, { signal: abort.signal })) {
        if (event.type === "tool") mergeTool(tools, event.data);
        else if (["delta", "done", "error"].includes(event.type)) break;
      }
    } catch {
      return; // not kept any more, or the page moved on
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
    const src = bubble.run ?? bubble.source;
    if (!tools.length || !bubble.isConnected || !src) return;
    src.tools ??= [];
    for (const tool of tools) mergeTool(src.tools, tool);
    drawTools(bubble, src);
  },

  /** Continue a cut-off answer: its provider writes on, streamed into the same bubble. */
  continueAnswer(answer) {
    const prior = answer.source;
    const id = answer.messageId;
    if (this.activeRun() || !id || !this.conversation || !prior) return;
    const run = this.track(new Run({
      conversationId: this.conversation.id,
      origin: { kind: "continue", answerId: id },
    }));
    Object.assign(run, { id, text: prior.text, reasoning: prior.reasoning, model: prior.model, tools: [...(prior.tools ?? [])] });
    run.view = this.view;
    this.view.run = run;
    const stored = {
      id, parent_id: answer.parentId, sibling_ids: answer.siblingIds, content: prior.text,
      reasoning: prior.reasoning, model: prior.model, status: prior.status, finish_reason: "length",
      usage: prior.usage, error: null, ttft_ms: prior.done?.ttft_ms, total_ms: prior.done?.total_ms,
    };
    run.addEventListener("change", (/** @type {Event & {detail?: string}} */ { detail }) => {
      // the stored usage is the sum: so is the bubble's
      if (detail === "usage" && prior.usage) run.usage = sum(prior.usage, /** @type {Usage} */ (run.usage)); // a "usage": it came
      if (detail === "id" || detail === "meta") run.id = id; // the answer's id, not its stream's (.c1)
      if (detail === "end" && run.httpError) {
        answer.showStored(/** @type {Message} */ (stored)); // refused (not continuable, no partial mode): unchanged
        /** @type {StoredAnswer} */ (answer.source).tools = run.tools;
        toast(errorText(run.error));
      }
    });
    answer.bindRun(run);
    this.updateView();
    run.start((signal) => api.continueAnswer(id, signal));
  },
};

/** @param {Usage} a @param {Usage} b @returns {Usage} */
function sum(a, b) {
  const total = { ...b, estimated: Boolean(a.estimated || b.estimated) };
  for (const key of /** @type {const} */ (["prompt_tokens", "completion_tokens", "total_tokens"])) total[key] = (a[key] ?? 0) + (b[key] ?? 0);
  return total;
}
