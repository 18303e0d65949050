// Markdown to safe DOM, the one path for live and stored answers.
//
// marked (GFM) turns text into tokens and HTML with raw HTML disabled: an `html` token is shown
// as escaped text, never as markup. Images become plain links (a remote image is never fetched
// by merely showing an answer). Code blocks are highlighted by highlight.js and get a copy
// button. Then DOMPurify sanitises the HTML into a DocumentFragment with a strict allowlist:
// only http(s)/mailto/# link targets, no style, no SVG/MathML, no forms or embeds. Links open
// in a new tab with rel="noopener noreferrer nofollow".
//
// Math ($…$, $$…$$, \(…\), \[…\]) is a marked extension: a formula is a token only once its
// closing delimiter is there (a formula still arriving shows as text, and renders once whole),
// rendered by KaTeX as MathML (trust off, no \href or \html*; its TeX annotation dropped) and
// then sanitised with the rest: MathML is the one markup the allowlist adds, and raw HTML from
// the model never gets that far. A formula KaTeX cannot parse shows as its source, as code.
// Each distinct formula is rendered and sanitised once and then cloned into every place it is
// used (a slot in the HTML, filled after the answer's HTML is sanitised).

import { DOMPurify, hljs, katex, Lexer, Marked } from "../vendor/index.js";
import { t } from "./i18n.js";

/** @import { MarkedLinks, MarkedToken, MarkedTokensList } from "../vendor/index.js" */

/** @type {Record<string, string>} */
const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
/** @param {unknown} text @returns {string} */
export const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);

const SAFE_URL = /^(?:https?:|mailto:|#)/i;
const LANGUAGE_NAME = /^[\w+#.-]{1,32}$/;

const MATH_BLOCK = [/^ {0,3}\$\$([\s\S]+?)\$\$[ \t]*(?:\n+|$)/, /^ {0,3}\\\[([\s\S]+?)\\\][ \t]*(?:\n+|$)/];
/** @type {[RegExp, boolean][]} rules, and whether each is display math */
const MATH_INLINE = [
  [/^\$\$(?!\$)([\s\S]+?)\$\$/, true],
  [/^\\\(([\s\S]+?)\\\)/, false],
  [/^\\\[([\s\S]+?)\\\]/, true],
  // $x$: no space inside either delimiter, no digit right after it ("$5 and $10" is money)
  [/^\$(?![\s$])((?:\\.|[^\\$\n])+?)(?<!\s)\$(?!\d)/, false],
];
const MAX_FORMULA = 4000; // characters; a longer "formula" is text
/** @type {Map<string, Node>} formulas rendered and sanitised once, cloned where they are used */
const formulas = new Map();
/** @type {Node[]} the formulas of the HTML being rendered, in order, for its slots */
let slots = [];
const SLOT = "math-slot";

/**
 * A formula as sanitised MathML (KaTeX), or its source as code when it does not parse. Each is
 * rendered and sanitised once and then cloned: the live blocks render again every frame, and a
 * formula's MathML is most of what the sanitiser would walk.
 * @param {string} tex
 * @param {boolean} display
 * @returns {Node}
 */
function formula(tex, display) {
  const key = `${display ? "D" : "I"}${tex}`;
  let node = formulas.get(key);
  if (node === undefined) {
    let html;
    try {
      html = katex.renderToString(tex, {
        displayMode: display, output: "mathml", throwOnError: true, trust: false,
        strict: "ignore", maxSize: 20, maxExpand: 300,
      });
      // the TeX source again, in an element the sanitiser refuses (it would show as text)
      html = html.replace(/<annotation\b[^>]*>[^<]*<\/annotation>/g, "").replace(/<\/?semantics>/g, "");
      html = display ? `<div class="math math-display">${html}</div>` : `<span class="math">${html}</span>`;
    } catch {
      html = `<code class="math-error">${escapeHtml(tex)}</code>`;
    }
    const clean = sanitize(html);
    node = clean.childNodes.length === 1 ? /** @type {Node} */ (clean.firstChild) : clean;
    if (formulas.size > 500) formulas.delete(/** @type {string} */ (formulas.keys().next().value));
    formulas.set(key, node);
  }
  return node;
}

/**
 * The HTML of a formula within an answer: a slot that `fill` replaces with the formula once the
 * answer's HTML is sanitised (raw HTML from the model is escaped text, so no slot comes from it).
 * @param {string} tex
 * @param {boolean} display
 * @returns {string}
 */
function renderMath(tex, display) {
  slots.push(formula(tex, display));
  return `<span class="${SLOT}">${slots.length - 1}</span>`;
}

/**
 * Put the formulas into their slots in `fragment` (from the HTML rendered since `slots` was
 * emptied), then forget them.
 * @param {DocumentFragment} fragment
 * @returns {DocumentFragment}
 */
function fill(fragment) {
  if (slots.length) {
    for (const slot of fragment.querySelectorAll(`span.${SLOT}`)) {
      const node = slots[Number(slot.textContent)];
      if (node) slot.replaceWith(node.cloneNode(true));
    }
    slots = [];
  }
  return fragment;
}

const marked = new Marked({ gfm: true, breaks: false, async: false });
marked.use({
  extensions: [
    {
      name: "mathBlock",
      level: "block",
      start: (src) => src.match(/^ {0,3}(?:\$\$|\\\[)/m)?.index,
      tokenizer(src) {
        for (const rule of MATH_BLOCK) {
          const match = rule.exec(src);
          if (match && match[1].trim() && match[1].length <= MAX_FORMULA) {
            return { type: "mathBlock", raw: match[0], text: match[1].trim() };
          }
        }
        return undefined;
      },
      renderer: (/** @type {MarkedToken & {text: string}} */ token) => renderMath(token.text, true),
    },
    {
      name: "math",
      level: "inline",
      start: (src) => src.match(/\$|\\[([]/)?.index,
      tokenizer(src) {
        for (const [rule, display] of MATH_INLINE) {
          const match = rule.exec(src);
          if (match && match[1].trim() && match[1].length <= MAX_FORMULA) {
            return { type: "math", raw: match[0], text: match[1].trim(), display };
          }
        }
        return undefined;
      },
      renderer: (/** @type {MarkedToken & {text: string, display: boolean}} */ token) =>
        renderMath(token.text, token.display),
    },
  ],
});
marked.use({
  renderer: {
    html(token) {
      const text = escapeHtml(token.text);
      return token.block ? `<p class="raw-html">${text}</p>` : text;
    },
    image(token) {
      const alt = token.text || token.href;
      const label = escapeHtml(t("imageLink", { alt }));
      if (!SAFE_URL.test(token.href || "")) return `<span class="md-image">${label}</span>`;
      return `<a class="md-image" href="${escapeHtml(token.href)}">${label}</a>`;
    },
    code(token) {
      const lang = (token.lang || "").trim().split(/\s+/)[0];
      const known = LANGUAGE_NAME.test(lang) && hljs.getLanguage(lang);
      const body = known
        ? hljs.highlight(token.text, { language: lang, ignoreIllegals: true }).value
        : escapeHtml(token.text);
      const label = LANGUAGE_NAME.test(lang) ? escapeHtml(lang) : "";
      return (
        `<div class="code-block"><div class="code-head"><span class="code-lang">${label}</span>` +
        `<button type="button" class="code-copy">${escapeHtml(t("copy"))}</button></div>` +
        `<pre><code class="hljs${known ? ` language-${label}` : ""}">${body}</code></pre></div>`
      );
    },
  },
});

const PURIFY = {
  ALLOWED_URI_REGEXP: SAFE_URL,
  FORBID_TAGS: [
    "style", "img", "svg", "form", "input", "textarea", "select", "iframe", "object",
    "embed", "video", "audio", "source", "picture", "link", "meta", "base", "template",
  ],
  FORBID_ATTR: ["style", "srcset", "action", "formaction", "xlink:href"],
  ALLOW_DATA_ATTR: false,
};

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName === "A") {
    if (node.hasAttribute("href")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer nofollow");
    }
  } else if (node.nodeName === "BUTTON") {
    node.setAttribute("type", "button");
  }
});

/**
 * Split markdown into top-level block tokens; their `raw` strings join back to the text.
 * `links` (reference definitions seen earlier) is read and extended in place.
 * @param {string} text
 * @param {MarkedLinks} [links]
 * @returns {MarkedTokensList}
 */
export function lex(text, links = Object.create(null)) {
  const lexer = new Lexer(marked.defaults);
  lexer.tokens.links = links;
  return lexer.lex(text);
}

const IN_PLACE = { ...PURIFY, RETURN_DOM_FRAGMENT: false, IN_PLACE: true };

/**
 * Sanitise HTML into a DocumentFragment of this document. The HTML is parsed into a wrapper
 * element of a new document that has no browsing context (inert: nothing runs, nothing loads),
 * DOMPurify cleans the wrapper in place, and its children are moved over. A fifth of the cost
 * of handing DOMPurify the string, which matters once per animation frame. A new document each
 * time, not a shared one (nor a <template>, whose contents share one document): DOMPurify leaves
 * a NodeIterator registered on the document per call, and every node later moved out of it
 * visits all of them, so a shared document grows slower with every frame.
 * @param {string} html
 * @returns {DocumentFragment}
 */
export function sanitize(html) {
  const root = document.implementation.createHTMLDocument("").createElement("div");
  root.innerHTML = html;
  DOMPurify.sanitize(root, IN_PLACE);
  const fragment = document.createDocumentFragment();
  fragment.append(...root.childNodes);
  return fragment;
}

/**
 * Render block tokens (from lex) to a sanitised DocumentFragment.
 * @param {MarkedToken[]} tokens
 * @param {MarkedLinks} [links]
 * @returns {DocumentFragment}
 */
export function renderTokens(tokens, links = {}) {
  const list = /** @type {MarkedTokensList} */ ([...tokens]);
  list.links = links;
  slots = [];
  return fill(sanitize(marked.parser(list)));
}

/** Render a whole markdown text to a sanitised DocumentFragment. @param {string} text */
export function renderMarkdown(text) {
  slots = [];
  return fill(sanitize(marked.parse(text)));
}

export const sanitizerConfig = PURIFY;
