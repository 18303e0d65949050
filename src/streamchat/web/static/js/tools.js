// The answer bubble's parts of issue 13: the status chips of the tools the server runs within
// the answer (`tool` events: Kimi's $web_search, "Searching the web…" → "Searched the web" /
// "Web search failed"), and Continue on an answer cut at its length, where the model's provider
// can write on (capabilities.js). sc-message calls drawTools on every draw and drawContinue
// when the answer ended; Continue dispatches sc-continue (bubbling).

import { capabilities } from "./capabilities.js";
import { t } from "./i18n.js";

/** @typedef {{id: string, name: string, status: "running" | "done" | "error"}} ToolCall a `tool` event's data */

/**
 * @typedef {object} AnswerPartsSource what these parts read of a bubble's source: a Run, or a
 *   stored answer's fields (sc-message's showStored)
 * @property {string | null} [id]
 * @property {string | null} [model]
 * @property {string} status
 * @property {boolean} finished
 * @property {{finish_reason?: string | null} | null} [done]
 * @property {ToolCall[]} [tools]
 */

/**
 * @typedef {object} AnswerPartsState what this module keeps on an answer's bubble
 * @property {string} [toolsKey]
 * @property {HTMLUListElement} [toolsBox]
 * @property {string} [continueKey]
 * @property {HTMLButtonElement} [continueButton]
 * @property {boolean} [cutShown]
 */

/** @typedef {HTMLElement & AnswerPartsState} AnswerBubble */

/** @type {Record<string, number>} */
const RANK = { running: 0, done: 1, error: 1 };

/**
 * Merge a `tool` event ({id, name, status}) into `tools` (one entry per call, in order).
 * @param {ToolCall[]} tools
 * @param {ToolCall} event
 * @returns {ToolCall[]}
 */
export function mergeTool(tools, event) {
  const known = tools.find((tool) => tool.id === event.id);
  if (!known) tools.push({ ...event });
  else if (RANK[event.status] >= RANK[known.status]) known.status = event.status;
  return tools;
}

/** @param {ToolCall} tool */
function label(tool) {
  if (tool.name === "$web_search") {
    return t(/** @type {Record<string, string>} */ ({ running: "toolSearching", done: "toolSearched", error: "toolSearchFailed" })[tool.status] ?? "toolSearching");
  }
  const key = /** @type {Record<string, string>} */ ({ running: "toolRunning", done: "toolDone", error: "toolFailed" })[tool.status] ?? "toolRunning";
  return t(key, { name: tool.name.replace(/^\$/, "") });
}

/**
 * The chips of `src.tools`, just above the answer's body (drawn only when they changed).
 * @param {AnswerBubble} bubble
 * @param {AnswerPartsSource} src
 */
export function drawTools(bubble, src) {
  const tools = src.tools ?? [];
  const key = `${document.documentElement.lang}|${tools.map((tool) => `${tool.id}:${tool.status}`).join(",")}`;
  if (bubble.toolsKey === key) return;
  bubble.toolsKey = key;
  let box = bubble.toolsBox;
  if (!tools.length) {
    if (box) box.hidden = true;
    return;
  }
  if (!box) {
    box = bubble.toolsBox = document.createElement("ul");
    box.className = "msg-tools";
    /** @type {Element} */ (bubble.querySelector(".msg-wait")).before(box); // above the wait and the body
  }
  box.hidden = false;
  box.setAttribute("aria-label", t("tools"));
  box.replaceChildren(...tools.map((tool) => {
    const chip = document.createElement("li");
    chip.className = "tool-chip";
    chip.dataset.status = tool.status;
    chip.dataset.tool = tool.id;
    const icon = document.createElement("span");
    icon.className = "tool-icon";
    icon.setAttribute("aria-hidden", "true");
    icon.textContent = /** @type {Record<string, string>} */ ({ done: "✓", error: "!" })[tool.status] ?? "";
    const text = document.createElement("span");
    text.textContent = label(tool);
    chip.append(icon, text);
    return chip;
  }));
}

/**
 * Continue, on a complete answer its provider cut at its length (finish_reason "length").
 * @param {AnswerBubble} bubble
 * @param {AnswerPartsSource} src
 */
export function drawContinue(bubble, src) {
  const offered = src.status === "complete" && src.done?.finish_reason === "length" &&
    Boolean(src.id) && capabilities.of(src.model).continue;
  const key = `${document.documentElement.lang}|${offered}|${src.finished}`;
  if (bubble.continueKey === key) return;
  bubble.continueKey = key;
  let button = bubble.continueButton;
  const badge = /** @type {HTMLElement} */ (bubble.querySelector(".status-badge"));
  if (!offered) {
    if (button) button.hidden = true;
    if (bubble.cutShown && !src.finished) badge.hidden = true; // continuing: no longer cut off
    bubble.cutShown = false;
    return;
  }
  if (!button) {
    button = bubble.continueButton = document.createElement("button");
    button.type = "button";
    button.className = "btn continue-answer";
    button.addEventListener("click", () => {
      bubble.dispatchEvent(new CustomEvent("sc-continue", { bubbles: true }));
    });
    /** @type {Element} */ (bubble.querySelector(".msg-foot")).before(button);
  }
  button.textContent = t("continueAnswer");
  button.hidden = false;
  badge.hidden = false;
  badge.textContent = t("cutOff");
  bubble.cutShown = true;
}

/**
 * Everything of this module in the bubble, from sc-message's draw.
 * @param {AnswerBubble} bubble
 * @param {AnswerPartsSource} src
 */
export function drawAnswerParts(bubble, src) {
  drawTools(bubble, src);
  drawContinue(bubble, src);
}
