// A conversation's title as shown: the server's title is the question by default (cut past 80
// characters), so markdown syntax is taken out for display (a code fence, its language, heading
// and quote markers, emphasis), never interpreted. The stored title is unchanged.

const TITLE_CHARS = 80;

/**
 * A new conversation's automatic title, made as the server makes it (prompts.title_for), so
 * that the page's title for it is the stored one: whitespace collapsed; past TITLE_CHARS cut at
 * the end of a word (within the last 20 characters) and marked "…". Characters are code points,
 * as Python counts them.
 * @param {string} text
 * @returns {string}
 */
export function questionTitle(text) {
  const title = text.split(/\s+/).filter(Boolean).join(" ");
  const chars = Array.from(title);
  if (chars.length <= TITLE_CHARS) return title;
  let cut = chars.slice(0, TITLE_CHARS - 1);
  if (chars[TITLE_CHARS - 1] !== " ") {
    // the cut is inside a word: back to the word's start
    const space = cut.lastIndexOf(" ");
    if (space >= TITLE_CHARS - 20) cut = cut.slice(0, space);
  }
  return cut.join("").trimEnd() + "…";
}

/**
 * `title` as plain text for the sidebar, the header and the tab; `fallback` when nothing is left.
 * @param {string | null | undefined} title
 * @param {string} fallback
 * @returns {string}
 */
export function displayTitle(title, fallback) {
  const text = String(title ?? "")
    .replace(/(`{3,}|~{3,})[\w+#.-]*/g, " ") // fences, with their language
    .replace(/`+/g, "")
    .replace(/(^|\s)(#{1,6}|>+|[-*+]|\d+[.)])(?=\s)/g, " ") // block markers
    .replace(/(\*\*|\*)(\S(?:.*?\S)?)\1/g, "$2")
    // `_` emphasis only at word edges: inside a word (rate_limit) it is not emphasis
    .replace(/(^|[^\p{L}\p{N}_])(__|_)(\S(?:.*?\S)?)\2(?![\p{L}\p{N}_])/gu, "$1$3")
    .replace(/\s+/g, " ")
    .trim();
  return text || fallback;
}
