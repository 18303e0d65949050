// Incremental markdown rendering whose cost per frame does not grow with the answer.
//
// The text only grows while an answer streams. Everything before `stable` is already in the DOM
// as finished blocks and is never parsed again. Each update lexes only the tail after `stable`:
// all but the last LIVE block tokens are final (a later token cannot change them), so they are
// rendered once, appended, and `stable` moves past them; the last blocks are re-rendered into the
// live element. A stored answer goes through the same code with `final` set, which commits all.
//
// Final blocks are grouped into chunks of CHUNK_BLOCKS blocks, styled `content-visibility: auto`:
// the browser skips style, layout and paint of the chunks that are off screen, so the cost of a
// frame does not grow with the length of the answer either.
//
// A stored answer is drawn by `stored(text)`: lexed once, then rendered a chunk at a time from
// its end, each chunk put before the previous one, in slices (slices.js), so a long answer shows
// its last, visible part at once and never holds the page for the whole render.

import { lex, renderTokens } from "./markdown.js";

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

/**
 * Put the leading nodes of `live` that equal those of `fragment` in their place in it.
 * @param {DocumentFragment} fragment
 * @param {Element} live
 */
function reuse(fragment, live) {
  for (let node = fragment.firstChild; node && live.firstChild; ) {
    const next = node.nextSibling;
    if (!live.firstChild.isEqualNode(node)) break;
    fragment.replaceChild(live.firstChild, node);
    node = next;
  }
}

/**
 * Make the children of `into` those of `from` (moved over), keeping every node of `into` that
 * has the same kind and name in the same place: attributes are synced, text grows in place
 * (appendData keeps a selection's offsets in it), children are morphed in turn.
 * @param {Element | DocumentFragment} into
 * @param {Element | DocumentFragment} from
 */
export function morph(into, from) {
  const wanted = [...from.childNodes];
  for (let i = 0; i < wanted.length; i++) {
    const want = wanted[i];
    const have = into.childNodes[i];
    if (!have) {
      into.append(...wanted.slice(i));
      return;
    }
    if (have.nodeType !== want.nodeType || have.nodeName !== want.nodeName) {
      into.replaceChild(want, have);
    } else if (have.nodeType === Node.TEXT_NODE) {
      const old = /** @type {Text} */ (have);
      const now = /** @type {Text} */ (want);
      if (old.data === now.data) continue;
      if (now.data.startsWith(old.data)) old.appendData(now.data.slice(old.data.length));
      else old.data = now.data;
    } else if (have.nodeType === Node.ELEMENT_NODE) {
      const old = /** @type {Element} */ (have);
      const now = /** @type {Element} */ (want);
      for (const { name } of [...old.attributes]) {
        if (!now.hasAttribute(name)) old.removeAttribute(name);
      }
      for (const { name, value } of now.attributes) {
        if (old.getAttribute(name) !== value) old.setAttribute(name, value);
      }
      morph(old, now);
    } else if (!have.isEqualNode(want)) {
      into.replaceChild(want, have);
    }
  }
  while (into.childNodes.length > wanted.length) /** @type {ChildNode} */ (into.lastChild).remove();
}

/**
 * @typedef {object} SavedSelection
 * @property {number} start text offset in the root
 * @property {number} end
 * @property {[Node, number, Node, number]} nodes the range's start and end
 */

/**
 * The user's selection inside `root`, as its nodes and as text offsets in `root`.
 * @param {Node} root
 * @returns {SavedSelection | null}
 */
function saveSelection(root) {
  const selection = document.getSelection();
  if (!selection || selection.rangeCount === 0 || selection.isCollapsed) return null;
  const range = selection.getRangeAt(0);
  if (!root.contains(range.startContainer) || !root.contains(range.endContainer)) return null;
  const before = document.createRange();
  before.setStart(root, 0);
  before.setEnd(range.startContainer, range.startOffset);
  const start = before.toString().length;
  return {
    start,
    end: start + range.toString().length,
    nodes: /** @type {[Node, number, Node, number]} */ ([range.startContainer, range.startOffset, range.endContainer, range.endOffset]),
  };
}

/**
 * After an update: the same selection again, where a node under it was drawn anew.
 * @param {Node} root
 * @param {SavedSelection | null} saved
 */
function restoreSelection(root, saved) {
  if (!saved) return;
  const selection = /** @type {Selection} */ (document.getSelection());
  const range = selection.rangeCount ? selection.getRangeAt(0) : null;
  const [sc, so, ec, eo] = saved.nodes;
  const same = range && range.startContainer === sc && range.startOffset === so
    && range.endContainer === ec && range.endOffset === eo && root.contains(sc) && root.contains(ec);
  if (same) return;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  let seen = 0;
  /** @type {[Node, number] | null} */
  let start = null;
  for (let node = /** @type {Text | null} */ (walker.nextNode()); node; node = /** @type {Text | null} */ (walker.nextNode())) {
    const length = node.data.length;
    if (!start && saved.start <= seen + length) start = [node, saved.start - seen];
    if (start && saved.end <= seen + length) {
      const restored = document.createRange();
      restored.setStart(...start);
      restored.setEnd(node, saved.end - seen);
      selection.removeAllRanges();
      selection.addRange(restored);
      return;
    }
    seen += length;
  }
}
