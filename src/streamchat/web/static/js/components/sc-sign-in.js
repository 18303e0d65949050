// <sc-sign-in>: the sign-in dialog of a server that requires accounts, with one API token field.
// Modal: the page behind it is inert and Escape does not dismiss it. Event: sc-sign-in {token}.

import { translate } from "../i18n.js";

export class ScSignIn extends HTMLElement {
  connectedCallback() {
    if (/** @type {{dialog?: HTMLDialogElement}} */ (this).dialog) return; // built already
    this.innerHTML = `
      <dialog class="sign-in" aria-labelledby="sign-in-title">
        <form class="sign-in-form">
          <h2 id="sign-in-title" data-i18n="signInTitle"></h2>
          <p class="sign-in-help" data-i18n="signInHelp"></p>
          <label><span data-i18n="tokenLabel"></span>
            <input name="token" type="password" autocomplete="current-password" spellcheck="false" required></label>
          <p class="sign-in-error" role="alert" hidden></p>
          <div class="sign-in-actions">
            <button type="submit" class="btn primary sign-in-submit" data-i18n="signIn"></button>
          </div>
        </form>
      </dialog>`;
    /** @type {HTMLDialogElement} */
    this.dialog = /** @type {HTMLDialogElement} */ (this.querySelector("dialog"));
    /** @type {HTMLInputElement} */
    this.input = /** @type {HTMLInputElement} */ (this.querySelector("input"));
    /** @type {HTMLButtonElement} */
    this.submit = /** @type {HTMLButtonElement} */ (this.querySelector(".sign-in-submit"));
    this.dialog.addEventListener("cancel", (event) => event.preventDefault());
    /** @type {HTMLFormElement} */ (this.querySelector("form")).addEventListener("submit", (event) => {
      event.preventDefault();
      const token = this.input.value.trim();
      if (!token || this.submit.disabled) return;
      this.dispatchEvent(new CustomEvent("sc-sign-in", { bubbles: true, detail: { token } }));
    });
  }

  open() {
    translate(this);
    this.showError("");
    this.busy(false);
    if (!this.dialog.open) this.dialog.showModal();
    this.input.focus();
  }

  /** @param {boolean} on */
  busy(on) {
    this.submit.disabled = on;
  }

  /** @param {string} message "": none */
  showError(message) {
    const box = /** @type {HTMLElement} */ (this.querySelector(".sign-in-error"));
    box.hidden = !message;
    box.textContent = message;
    if (message) this.input.select();
  }

  close() {
    this.input.value = "";
    this.dialog.close();
  }
}

customElements.define("sc-sign-in", ScSignIn);
