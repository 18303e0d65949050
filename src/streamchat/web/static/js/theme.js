// Light or dark: the system's choice by default, or the user's (the sidebar's Theme picker,
// remembered in localStorage). `data-theme` on <html> selects the colours in app.css; the code
// highlighting's two stylesheets follow by their media attribute.

const STORAGE_KEY = "streamchat.theme";
const THEMES = ["system", "light", "dark"];
/** @type {Record<string, [string, string]>} */
const MEDIA = { system: ["(prefers-color-scheme: light)", "(prefers-color-scheme: dark)"], light: ["all", "not all"], dark: ["not all", "all"] };

export function savedTheme() {
  try {
    return globalThis.localStorage?.getItem(STORAGE_KEY) || "system";
  } catch {
    return "system";
  }
}

/**
 * Show `theme` ("system", "light" or "dark"); returns the one shown.
 * @param {string} theme
 * @param {{remember?: boolean}} [options]
 * @returns {string}
 */
export function setTheme(theme, { remember = false } = {}) {
  const chosen = THEMES.includes(theme) ? theme : "system";
  if (chosen === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = chosen;
  const [light, dark] = MEDIA[chosen];
  document.querySelector("#code-light")?.setAttribute("media", light);
  document.querySelector("#code-dark")?.setAttribute("media", dark);
  if (remember) {
    try {
      globalThis.localStorage?.setItem(STORAGE_KEY, chosen);
    } catch {
      // private mode: the choice lasts as long as the page
    }
  }
  return chosen;
}
