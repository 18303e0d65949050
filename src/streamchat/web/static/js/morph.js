// Drawing a block again without losing hold of it (markdown-stream.js's live blocks): morph()
// makes an element's children those of a new render, keeping every node that matches; reuse()
// moves a live block's nodes into its final render; saveSelection() / restoreSelection() keep
// the user's selection across an update, by its text offsets where a node under it was replaced.

/**
 * Put the leading nodes of `live` that equal those of `fragment` in their place in it.
 * @param {DocumentFragment} fragment
 * @param {Element} live
 */
export function reuse(fragment, live) {
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
export function saveSelection(root) {
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
export function restoreSelection(root, saved) {
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
