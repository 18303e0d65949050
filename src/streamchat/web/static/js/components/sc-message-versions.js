// <sc-message>'s versions: `‹ n/m ›` for a message with siblings (`sibling_ids`, itself
// included, oldest first), its arrows disabled at the ends and while an answer streams in the
// conversation; an arrow asks for the version next to it (sc-version {id, step}). Methods of
// ScMessage (sc-message.js), kept here by their job.

import { t } from "../i18n.js";

export const VERSIONS = `
    <span class="versions" role="group" hidden>
      <button type="button" class="link-btn version-prev">‹</button>
      <span class="version-count" aria-hidden="true"></span>
      <button type="button" class="link-btn version-next">›</button>
    </span>`;

/** @import { ScMessage } from "./sc-message.js" */

/**
 * Methods of ScMessage (declared on it in tools/js/types/page.d.ts)
 * @satisfies {ThisType<ScMessage> & Pick<ScMessage, "setMessage" | "setVersions" | "setLocked" | "drawVersions" | "switchVersion">}
 */
export const versions = {
  /** Name the bubble after its stored message: {id, parent_id, sibling_ids}. */
  /** @param {MessageName} message */
  setMessage(message) {
    this.messageId = message.id;
    this.parentId = message.parent_id ?? null;
    this.setVersions(message.sibling_ids ?? [message.id]);
  },

  /** The versions of this message (its siblings, itself included, oldest first). */
  /** @param {string[]} siblingIds */
  setVersions(siblingIds) {
    this.siblingIds = siblingIds;
    this.drawVersions();
  },

  /** While an answer streams in the conversation: versions cannot be switched. */
  /** @param {boolean} locked */
  setLocked(locked) {
    if (this.locked === locked) return;
    this.locked = locked;
    this.drawVersions();
  },

  drawVersions() {
    const count = this.siblingIds.length;
    const index = this.siblingIds.indexOf(/** @type {string} */ (this.messageId));
    this.els.versions.hidden = count < 2 || index < 0;
    if (this.els.versions.hidden) return;
    this.els.versions.setAttribute("aria-label", t("versionOf", { n: index + 1, m: count }));
    this.els["version-count"].textContent = `${index + 1}/${count}`;
    for (const [name, step, key] of /** @type {["version-prev" | "version-next", number, string][]} */ ([["version-prev", -1, "previousVersion"], ["version-next", 1, "nextVersion"]])) {
      const target = this.els[name];
      target.setAttribute("aria-label", t(key));
      target.title = t(key);
      target.disabled = this.locked || !this.siblingIds[index + step];
    }
  },

  /** The version `step` away (-1 the previous, 1 the next), if there is one: sc-version. */
  /** @param {number} step */
  switchVersion(step) {
    const id = this.siblingIds[this.siblingIds.indexOf(/** @type {string} */ (this.messageId)) + step];
    if (id) this.dispatchEvent(new CustomEvent("sc-version", { bubbles: true, detail: { id, step } }));
  },
};
