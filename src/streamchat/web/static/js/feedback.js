// What the page tells the user outside the bubbles: a polite status for screen readers, a
// transient toast for failures of side actions (rename, delete, settings, lists).

import { language, own, t } from "./i18n.js";

/**
 * @typedef {object} ErrorLike an ApiError, a server's error body, an Error: what was caught
 * @property {string} [code]
 * @property {string} [name]
 * @property {string} [message]
 * @property {string} [reason]
 * @property {Record<string, unknown>} [details] an ApiError's other fields
 */

let toastTimer = 0;

/**
 * An error ({code, message[, reason, limit, ...]}) as the user reads it, in the page's language.
 * The server's message is English; in another language the text of its `reason` (which failure
 * of the code it is), else of its code, with the error's fields filled in ({limit}, {length});
 * a text whose fields the error lacks, or an unknown code, leaves the server's English.
 * @param {ErrorLike | null | undefined} error
 * @returns {string}
 */
export function errorText(error) {
  if (error?.code === "network" || error?.name === "TypeError") return t("errorNetwork"); // never "Failed to fetch"
  if (error?.code === "connection_lost") return t("errorConnectionLost");
  if (language() !== "en") {
    const fields = error?.details ? { ...error.details, message: error.message } : error;
    for (const key of [fields?.reason && `err_${fields.reason}`, `err_${error?.code}`]) {
      const text = key ? filled(own(key), fields) : null;
      if (text) return text;
    }
  }
  return error?.message || error?.code || "";
}

/**
 * `text` with each {name} replaced by fields[name]; null when a field is missing.
 * @param {string | null} text
 * @param {Record<string, unknown> | null | undefined} fields
 * @returns {string | null}
 */
function filled(text, fields) {
  if (!text) return null;
  let missing = false;
  const out = text.replace(/\{(\w+)\}/g, (/** @type {string} */ _, /** @type {string} */ name) => {
    const value = fields?.[name];
    if (value === undefined || value === null || value === "") missing = true;
    return String(value ?? "");
  });
  return missing ? null : out;
}

/** Say `text` through the polite live region (#announcer). @param {string} text */
export function announce(text) {
  const region = /** @type {HTMLElement} */ (document.querySelector("#announcer"));
  region.textContent = "";
  requestAnimationFrame(() => (region.textContent = text));
}

/** Show `text` in the toast (#toast, role=alert) for a few seconds. @param {string} text */
export function toast(text) {
  const box = /** @type {HTMLElement} */ (document.querySelector("#toast"));
  box.textContent = text;
  box.hidden = !text;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (box.hidden = true), 6000);
}

/**
 * Await an API call; toast its error and resolve to null when it fails.
 * @template T
 * @param {Promise<T>} promise
 * @returns {Promise<T | null>}
 */
export async function guard(promise) {
  try {
    return await promise;
  } catch (/** @type {any} */ error) {
    toast(errorText(error));
    return null;
  }
}
