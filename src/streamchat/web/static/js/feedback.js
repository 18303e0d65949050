// What the page tells the user outside the bubbles: a polite status for screen readers, a
// transient toast for failures of side actions (rename, delete, settings, lists).

import { language, own, t } from "./i18n.js";

let toastTimer = 0;

/** An error ({code, message}) as the user reads it, in the page's language. */
export function errorText(error) {
  if (error?.code === "network" || error?.name === "TypeError") return t("errorNetwork"); // never "Failed to fetch"
  if (error?.code === "connection_lost") return t("errorConnectionLost");
  // the server's message is English; in another language its code's own text, when there is one
  return (language() !== "en" && own(`err_${error?.code}`)) || error?.message || error?.code || "";
}

/** Say `text` through the polite live region (#announcer). */
export function announce(text) {
  const region = document.querySelector("#announcer");
  region.textContent = "";
  requestAnimationFrame(() => (region.textContent = text));
}

/** Show `text` in the toast (#toast, role=alert) for a few seconds. */
export function toast(text) {
  const box = document.querySelector("#toast");
  box.textContent = text;
  box.hidden = !text;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (box.hidden = true), 6000);
}

/** Await an API call; toast its error and resolve to null when it fails. */
export async function guard(promise) {
  try {
    return await promise;
  } catch (error) {
    toast(errorText(error));
    return null;
  }
}
