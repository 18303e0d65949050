// Entry point: pick the language, translate the static markup, start the app.

import { App } from "./app.js";
import { detectLanguage, LANGUAGES, setLanguage, translate } from "./i18n.js";

const picker = document.querySelector("#lang");
picker.replaceChildren(
  ...LANGUAGES.map(({ code, name }) => Object.assign(document.createElement("option"), { value: code, textContent: name })),
);
picker.value = setLanguage(detectLanguage());
translate(document);

const app = new App();
picker.addEventListener("change", () => {
  setLanguage(picker.value, { remember: true });
  translate(document);
  app.retranslate();
});
globalThis.streamchatApp = app; // for tests and the benchmark
app.start();
