// Interface text in English and Simplified Chinese (the strings: i18n-en.js, i18n-zh-cn.js). The
// language comes from localStorage (the user's choice), else the browser's languages; t(key, vars)
// looks a string up and fills {name} placeholders; translate(root) fills [data-i18n] text and
// [data-i18n-attr="attr:key;..."].

import { en } from "./i18n-en.js";
import { zhCN } from "./i18n-zh-cn.js";

/** @type {Record<string, Record<string, string>>} */
const STRINGS = { en, "zh-CN": zhCN };

export const LANGUAGES = [
  { code: "en", name: "English" },
  { code: "zh-CN", name: "简体中文" },
];
const STORAGE_KEY = "streamchat.lang";
let current = "en";

export function detectLanguage() {
  const saved = safeStorage()?.getItem(STORAGE_KEY);
  if (saved && STRINGS[saved]) return saved;
  for (const lang of navigator.languages || [navigator.language]) {
    if (/^zh\b/i.test(lang) && !/^zh-(TW|HK|MO|Hant)/i.test(lang)) return "zh-CN";
    if (/^en\b/i.test(lang)) return "en";
  }
  return "en";
}

/** @param {string} lang @param {{remember?: boolean}} [options] @returns {string} the language set */
export function setLanguage(lang, { remember = false } = {}) {
  current = STRINGS[lang] ? lang : "en";
  document.documentElement.lang = current;
  if (remember) safeStorage()?.setItem(STORAGE_KEY, current);
  return current;
}

export function language() {
  return current;
}

/**
 * The string for `key` in the current language itself (no English fallback), or null.
 * @param {string} key
 * @returns {string | null}
 */
export function own(key) {
  return STRINGS[current][key] ?? null;
}

/**
 * @param {string} key
 * @param {Record<string, unknown>} [vars] the {name} placeholders' values
 * @returns {string}
 */
export function t(key, vars = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/** @param {Document | Element | DocumentFragment} [root] */
export function translate(root = document) {
  /** @type {NodeListOf<HTMLElement>} */
  const texts = root.querySelectorAll("[data-i18n]");
  for (const el of texts) el.textContent = t(/** @type {string} */ (el.dataset.i18n));
  /** @type {NodeListOf<HTMLElement>} */
  const attributed = root.querySelectorAll("[data-i18n-attr]");
  for (const el of attributed) {
    for (const pair of /** @type {string} */ (el.dataset.i18nAttr).split(";")) {
      const [attr, key] = pair.split(":");
      el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}

function safeStorage() {
  try {
    return globalThis.localStorage;
  } catch {
    return null;
  }
}
