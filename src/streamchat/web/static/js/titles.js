// A conversation's title as shown: the server's title is the question's first 80 characters
// by default, so markdown syntax is taken out for display (a code fence, its language, heading
// and quote markers, emphasis), never interpreted. The stored title is unchanged.

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
