// Incremental markdown rendering whose cost per frame does not grow with the answer.
//
// The text only grows while an answer streams. Everything before `stable` is already in the DOM
// as finished blocks and is never parsed again. Each update lexes only the tail after `stable`:
// all but the last LIVE block tokens are final (a later token cannot change them), so they are
// rendered once, appended, and `stable` moves past them; the last blocks are re-rendered and
// morphed into the live element (morph.js: the nodes being written, and a selection in them,
// stay). A stored answer goes through the same code with `final` set, which commits all.
//
// Final blocks are grouped into chunks of CHUNK_BLOCKS blocks, styled `content-visibility: auto`:
// the browser skips style, layout and paint of the chunks that are off screen, so the cost of a
// frame does not grow with the length of the answer either.
//
// A stored answer is drawn by `stored(text)`: lexed once, then rendered a chunk at a time from
// its end, each chunk put before the previous one, in slices (slices.js), so a long answer shows
// its last, visible part at once and never holds the page for the whole render.

import { lex, renderTokens } from "./markdown.js";
import { morph, restoreSelection, reuse, saveSelection } from "./morph.js";

/** @import { MarkedLinks, MarkedToken } from "../vendor/index.js" */
/** @import { Job } from "./slices.js" */

const LIVE = 2; // blocks kept re-renderable: "1. a\n\n2" must not freeze a one-item list
const CHUNK_BLOCKS = 24;
const PIECE = 4000; // characters of a stored answer lexed at a time
const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const REFERENCE = /^ {0,3}\[[^\]]+\]:/m;

export class MarkdownStream {
  /** @param {HTMLElement} container the bubble's body */
  constructor(container) {
    this.container = container;
    this.reset();
  }

  reset() {
    this.generation = (this.generation ?? 0) + 1; // a stored() job of an earlier text stops
    this.container.replaceChildren();
    /** @type {HTMLDivElement} */
    this.live = document.createElement("div");
    this.live.className = "md-live";
    this.container.append(this.live);
    /** @type {number} */
    this.stable = 0; // characters of the text in finished blocks
    /** @type {HTMLDivElement | null} */
    this.chunk = null;
    /** @type {number} */
    this.chunkBlocks = 0;
    this.source = "";
    /** @type {MarkedLinks} */
    this.links = Object.create(null);
  }

  /**
   * Show `text`, which extends the previous one (call reset() when it was replaced).
   * @param {string} text
   * @param {boolean} [final] the whole answer: commit every block
   */
  update(text, final = false) {
    if (text.length < this.stable) this.reset();
    this.source = text;
    const tail = text.slice(this.stable);
    const tokens = lex(tail, this.links);
    let keep = final ? 0 : LIVE;
    let cut = tokens.length;
    while (cut > 0 && keep > 0) {
      cut--;
      if (tokens[cut].type !== "space") keep--;
    }
    const selection = saveSelection(this.container);
    if (cut > 0) {
      const done = tokens.slice(0, cut);
      const raw = done.map((token) => token.raw).join("");
      if (tail.startsWith(raw)) {
        this.commit(done, true);
        this.stable += raw.length;
      } else {
        cut = 0; // the lexer rewrote the text (a CR): keep it all live this time
      }
    }
    // the live blocks are morphed, not replaced: the block being written keeps its nodes, so a
    // selection in it and a click on its buttons survive the next frame
    morph(this.live, renderTokens(tokens.slice(cut), this.links));
    restoreSelection(this.container, selection);
  }

  /**
   * Show the final `text` of a stored answer. Returns a job for a Slicer: each call renders
   * chunks from the end of the text, before the ones already shown, until `deadline`; true once
   * all of it is in (or the stream was reset meanwhile). The text is lexed a piece at a time
   * too (`pieces`), the last piece first: lexing 144,000 characters at once takes 30-60 ms.
   * @param {string} text
   * @returns {Job}
   */
  stored(text) {
    this.reset();
    const generation = this.generation;
    this.source = text;
    this.stable = text.length;
    /** @type {string[] | null} */
    let parts = null;
    /** @type {MarkedToken[]} */
    let tokens = [];
    let end = 0;
    let first = this.live;
    return (deadline) => {
      if (generation !== this.generation) return true;
      if (parts === null) parts = pieces(text, PIECE);
      do {
        if (end === 0) {
          if (!parts.length) return true;
          tokens = lex(/** @type {string} */ (parts.pop()), this.links);
          end = tokens.length;
          if (!end) continue;
        }
        const start = Math.max(0, end - CHUNK_BLOCKS);
        const chunk = document.createElement("div");
        chunk.className = "md-chunk";
        chunk.append(renderTokens(tokens.slice(start, end), this.links));
        this.container.insertBefore(chunk, first);
        if (first === this.live) {
          this.chunk = chunk; // where a later commit() would go on
          this.chunkBlocks = CHUNK_BLOCKS;
        }
        first = chunk;
        end = start;
      } while (performance.now() < deadline);
      return end === 0 && !parts.length;
    };
  }

  /**
   * Append final block tokens to the current chunk (a new one every CHUNK_BLOCKS blocks). From
   * `live`, a block drawn the same as it was while live is moved over, not drawn again.
   * @param {MarkedToken[]} tokens
   * @param {boolean} [live] they were the live blocks
   */
  commit(tokens, live = false) {
    for (let start = 0; start < tokens.length; ) {
      if (this.chunk === null || this.chunkBlocks >= CHUNK_BLOCKS) {
        this.chunk = document.createElement("div");
        this.chunk.className = "md-chunk";
        this.container.insertBefore(this.chunk, this.live);
        this.chunkBlocks = 0;
      }
      const end = Math.min(tokens.length, start + CHUNK_BLOCKS - this.chunkBlocks);
      const fragment = renderTokens(tokens.slice(start, end), this.links);
      if (live) reuse(fragment, this.live);
      this.chunk.append(fragment);
      this.chunkBlocks += end - start;
      start = end;
    }
  }
}

/**
 * Cut `text` into pieces of about `size` characters (or more) that lex alone exactly as they do
 * within the whole: each starts a line that follows a blank line outside a code fence, is not
 * indented and starts no list item (so no block of the piece before goes on into it). A text
 * with reference link definitions, which reach across the whole text, stays one piece.
 * @param {string} text
 * @param {number} size
 * @returns {string[]}
 */
export function pieces(text, size) {
  if (text.length <= size || REFERENCE.test(text)) return [text];
  const out = [];
  let start = 0;
  let fence = null;
  let blank = false;
  for (let pos = 0; pos < text.length; ) {
    let nl = text.indexOf("\n", pos);
    if (nl < 0) nl = text.length;
    const line = text.slice(pos, nl);
    const open = FENCE.exec(line);
    if (fence) {
      const closes = open && open[1][0] === fence[0] && open[1].length >= fence.length;
      if (closes && !line.slice(open[0].length).trim()) fence = null;
      blank = false;
    } else {
      if (blank && pos - start >= size && /^[^\s\-*+\d]/.test(line)) {
        out.push(text.slice(start, pos));
        start = pos;
      }
      if (open) fence = open[1];
      blank = !fence && line.trim() === "";
    }
    pos = nl + 1;
  }
  out.push(text.slice(start));
  return out;
}
