// The page's account on a server that requires one. Without a valid session the sign-in dialog
// asks for an API token, which POST /api/session turns into the HttpOnly session cookie (the
// page never keeps the token); the sidebar shows who is signed in and a sign-out button. An API
// call answered 401 later (token revoked, cookie expired) asks again, then reloads the page.

import { api } from "./api.js";
import { t } from "./i18n.js";
import "./components/sc-sign-in.js";

/** @import { Session } from "./api-types.js" */
/** @import { ScSignIn } from "./components/sc-sign-in.js" */

/** @param {string} selector @returns {HTMLElement} an element the page has */
const $ = (selector) => /** @type {HTMLElement} */ (document.querySelector(selector));

/** Resolve once the page may use the API: at once without accounts or with a session, else
 * when the user has signed in. If the session cannot be read, the page goes on (and its calls
 * report why they fail). */
export async function ensureSession() {
  let session;
  try {
    session = await api.session();
  } catch {
    return;
  }
  if (session.auth_required && !session.user) session = await signIn();
  showAccount(session);
  let asking = null;
  document.addEventListener("sc-unauthorized", () => {
    asking ??= signIn().then(() => location.reload());
  });
}

/** @returns {Promise<Session>} */
function signIn() {
  const dialog = /** @type {ScSignIn} */ ($("sc-sign-in"));
  document.body.classList.add("signed-out");
  dialog.open();
  return new Promise((resolve) => {
    /** @param {CustomEvent<{token: string}>} event */
    const attempt = async (event) => {
      dialog.busy(true);
      try {
        await api.signIn(event.detail.token);
        const session = await api.session();
        if (!session.user) throw new Error(t("signInRefused"));
        dialog.removeEventListener("sc-sign-in", attempt);
        dialog.close();
        document.body.classList.remove("signed-out");
        resolve(session);
      } catch (/** @type {any} */ error) {
        dialog.busy(false);
        dialog.showError(error.status === 401 ? t("signInInvalid") : error.message);
      }
    };
    dialog.addEventListener("sc-sign-in", attempt);
  });
}

/** @param {Session} session */
function showAccount(session) {
  const account = $("#account");
  if (!session.auth_required || !session.user) return;
  $("#account-name").textContent = t("signedInAs", { user: session.user });
  account.hidden = false;
  $("#sign-out").addEventListener("click", async () => {
    try {
      await api.signOut();
    } finally {
      location.reload();
    }
  });
}
