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

import { lex, renderTokens } from "./markdown.js";

const LIVE = 2; // blocks kept re-renderable: "1. a\n\n2" must not freeze a one-item list
const CHUNK_BLOCKS = 24;

export class MarkdownStream {
  constructor(container) {
    this.container = container;
    this.reset();
  }

  reset() {
    this.container.replaceChildren();
    this.live = document.createElement("div");
    this.live.className = "md-live";
    this.container.append(this.live);
    this.stable = 0;
    this.chunk = null;
    this.chunkBlocks = 0;
    this.source = "";
    this.links = Object.create(null);
  }

  /** Show `text`, which extends the previous one (call reset() when it was replaced). */
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
    if (cut > 0) {
      const done = tokens.slice(0, cut);
      const raw = done.map((token) => token.raw).join("");
      if (tail.startsWith(raw)) {
        this.commit(done);
        this.stable += raw.length;
      } else {
        cut = 0; // the lexer rewrote the text (a CR): keep it all live this time
      }
    }
    this.live.replaceChildren(renderTokens(tokens.slice(cut), this.links));
  }

  /** Append final block tokens to the current chunk (a new one every CHUNK_BLOCKS blocks). */
  commit(tokens) {
    for (let start = 0; start < tokens.length; ) {
      if (this.chunk === null || this.chunkBlocks >= CHUNK_BLOCKS) {
        this.chunk = document.createElement("div");
        this.chunk.className = "md-chunk";
        this.container.insertBefore(this.chunk, this.live);
        this.chunkBlocks = 0;
      }
      const end = Math.min(tokens.length, start + CHUNK_BLOCKS - this.chunkBlocks);
      this.chunk.append(renderTokens(tokens.slice(start, end), this.links));
      this.chunkBlocks += end - start;
      start = end;
    }
  }
}
