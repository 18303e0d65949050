// What the controller does as each run's events arrive: a `meta` names the conversation (the
// sidebar's dot; a new chat adopts it, its bubbles are named); the end announces the outcome,
// reads the versions and the list again, waits for a model-written title; an action the server
// refused is put back as it was, or left "not sent". Methods of App (app.js), kept here by their
// job.

import { announce, errorText, toast } from "./feedback.js";
import { t } from "./i18n.js";
import { questionTitle } from "./titles.js";
/** @import { App } from "./app.js" */
/** @import { ErrorBody } from "./api-types.js" */
/** @import { Asked } from "./branches.js" */
/** @import { Run } from "./runs.js" */
/** @import { ScMessage } from "./components/sc-message.js" */

/**
 * Methods of App (app.js).
 * @satisfies {ThisType<App> & Pick<App, "track" | "onRun" | "refused">}
 */
export const tracking = {
  /** @param {Run} run @returns {Run} */
  track(run) {
    this.runs.add(run);
    run.addEventListener("change", (event) => this.onRun(run, /** @type {CustomEvent<string>} */ (event).detail));
    return run;
  },

  /** @param {Run} run @param {string} type */
  onRun(run, type) {
    const own = run.view === this.view && this.asked.has(run);
    if (type === "meta") {
      this.sidebar.setStreaming(/** @type {string} */ (run.conversationId), true); // a `meta` names it
      if (own && !this.conversation) {
        const title = questionTitle(/** @type {string} */ (run.origin.message));
        // a `meta` gave the run its conversation and model
        this.adopt({ id: /** @type {string} */ (run.conversationId), title, model: /** @type {string | null} */ (run.model), system_prompt: null, params: {} });
      }
      if (own) this.thread.named(run, /** @type {Asked} */ (this.asked.get(run)));
      this.updateView();
      this.refreshList();
    } else if (type === "stopping") {
      this.updateView();
    } else if (type === "end") {
      if (run.done?.title_pending) this.awaitTitle(/** @type {string} */ (run.conversationId));
      if (run.conversationId) this.sidebar.setStreaming(run.conversationId, false);
      const shown = own || (this.conversation && run.conversationId === this.conversation.id);
      if (own && run.refused) this.refused(run);
      else if (shown) {
        const key = run.status === "stopped" ? "answerStopped" : run.error ? "answerFailed" : "answerDone";
        announce(t(key, { message: run.error?.message ?? "" }));
        this.refreshVersions();
      }
      this.updateView();
      this.refreshList();
    }
  },

  /**
   * The server refused the action, or never got it: nothing was stored. A conflict (an answer is
   * streaming in this conversation, perhaps from another tab) and a refused Regenerate leave the
   * screen as it was; a refused question stays, "not sent", with Resend and Edit & resend.
   */
  /** @param {Run} run */
  refused(run) {
    const { question, answer, taken } = /** @type {Asked} */ (this.asked.get(run));
    const { code, retry_after: wait } = /** @type {ErrorBody} */ (run.error);
    const message = errorText(run.error);
    if (code !== "conflict" && run.origin.kind !== "regenerate") {
      /** @type {ScMessage} */ (question).markUnsent(); // there is one: not a Regenerate
      answer.markUnsent();
      announce(t("answerFailed", { message }));
      return;
    }
    this.thread.restore([question, answer], taken);
    toast(code === "conflict" ? t("conflict") : wait ? t("refusedWait", { message, seconds: wait }) : message);
    if (code !== "conflict") return;
    if (run.origin.kind === "edit") taken[0]?.startEdit(run.origin.message);
    else if (run.origin.kind === "chat") this.composer.restore(/** @type {string} */ (run.origin.message), run.origin.files);
  },
};
