// Entry point: pick the language, translate the static markup, start the app.

import { App } from "./app.js";
import { detectLanguage, LANGUAGES, setLanguage, translate } from "./i18n.js";
import { savedTheme, setTheme } from "./theme.js";

const picker = /** @type {HTMLSelectElement} */ (document.querySelector("#lang"));
picker.replaceChildren(
  ...LANGUAGES.map(({ code, name }) => Object.assign(document.createElement("option"), { value: code, textContent: name })),
);
picker.value = setLanguage(detectLanguage());
translate(document);
document.querySelector("sc-composer")?.translate(); // defined (and drawn) before the language was set

const themePicker = /** @type {HTMLSelectElement} */ (document.querySelector("#theme"));
themePicker.value = setTheme(savedTheme());
themePicker.addEventListener("change", () => setTheme(themePicker.value, { remember: true }));

const app = new App();
picker.addEventListener("change", () => {
  setLanguage(picker.value, { remember: true });
  translate(document);
  app.retranslate();
});
globalThis.streamchatApp = app; // for tests and the benchmark
app.start();
