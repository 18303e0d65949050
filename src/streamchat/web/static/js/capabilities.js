// What each model can take, from GET /api/capabilities (issue 13): images (`vision`), the
// web-search and thinking switches, Continue; and the upload limits. One shared instance: the
// composer, the bubbles and the controller ask it. Before it is loaded (or if it failed)
// nothing is offered, and the server still checks everything.

/** @import { Abilities, CapabilityList, FileLimits, ModelCapabilities } from "./api-types.js" */

/** @type {Abilities} */
const NONE = { vision: false, thinking: null, web_search: false, continue: false, file_extract: false };

class Capabilities {
  constructor() {
    /** @type {Map<string, ModelCapabilities>} */
    this.models = new Map();
    /** @type {FileLimits} */
    this.files = { max_bytes: 20 * 1024 * 1024, max_per_question: 10, types: [] };
  }

  /** @param {CapabilityList} [capabilities] */
  load({ models = [], files = {} } = {}) {
    this.models = new Map(models.map((m) => [m.id, m]));
    this.files = { ...this.files, ...files };
  }

  /** @param {string | null | undefined} model @returns {Abilities} */
  of(model) {
    return this.models.get(/** @type {string} */ (model)) ?? NONE;
  }
}

export const capabilities = new Capabilities();
