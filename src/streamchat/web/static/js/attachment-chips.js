// How files are drawn (issue 13): a thumbnail (an image) or a chip (a document) per file, in
// the composer's tray (with its progress, its error and its ✕) and in a question in the thread
// (links to the bytes). Images are shown from the server (/api/files/{id}); while one uploads,
// from a data: URL (the page's CSP allows no blob: images).

import { isImage, size } from "./attachments.js";
import { t } from "./i18n.js";

/** @import { ErrorBody, FileInfo } from "./api-types.js" */
/** @import { FileShown, ReadyItem, Tray } from "./attachments.js" */

/**
 * The composer's tray: a thumbnail or chip per file, its progress, its ✕.
 * @param {HTMLElement} list
 * @param {Tray} tray
 */
export function drawTray(list, tray) {
  list.replaceChildren(...tray.items.map((item) => {
    const li = fileItem(item, item.status === "ready" ? `/api/files/${encodeURIComponent(/** @type {ReadyItem} */ (item).file.id)}` : item.preview);
    li.dataset.status = item.status;
    if (item.status === "uploading") {
      const bar = document.createElement("progress");
      bar.className = "att-progress";
      bar.max = 1;
      bar.value = item.progress;
      bar.setAttribute("aria-label", t("attachUploading", { name: item.name, percent: Math.round(item.progress * 100) }));
      li.append(bar);
    }
    if (item.status === "error") {
      const why = document.createElement("span");
      why.className = "att-error";
      why.setAttribute("role", "alert");
      why.textContent = /** @type {string} */ (/** @type {ErrorBody} */ (item.error).message);
      li.append(why);
    }
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "att-remove";
    remove.dataset.key = String(item.key);
    remove.textContent = "✕";
    remove.setAttribute("aria-label", t("attachRemove", { name: item.name }));
    remove.title = /** @type {string} */ (remove.getAttribute("aria-label"));
    li.append(remove);
    return li;
  }));
  list.hidden = tray.items.length === 0;
}

/**
 * A question's files in the thread (stored descriptions), as links to their bytes.
 * @param {HTMLElement & {files?: FileInfo[]}} bubble a question's sc-message
 * @param {FileInfo[] | null | undefined} files
 */
export function showFiles(bubble, files) {
  bubble.files = files ?? [];
  bubble.querySelector(".msg-files")?.remove();
  if (!bubble.files.length) return;
  const list = document.createElement("ul");
  list.className = "msg-files att-list";
  list.setAttribute("aria-label", t("attachments"));
  for (const file of bubble.files) {
    const href = `/api/files/${encodeURIComponent(file.id)}`;
    const li = fileItem(file, href);
    const link = document.createElement("a");
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener";
    link.className = "att-open";
    link.append(...li.childNodes);
    li.append(link);
    list.append(li);
  }
  /** @type {Element} */ (bubble.querySelector(".msg-body")).before(list);
}

/** @param {FileShown} file @param {string | undefined} src the image's URL */
function fileItem(file, src) {
  const li = document.createElement("li");
  const image = isImage(file);
  li.className = `att ${image ? "att-image" : "att-doc"}`;
  if (image && src) {
    const img = document.createElement("img");
    img.src = src;
    img.alt = file.name;
    img.className = "att-thumb";
    li.append(img);
  } else {
    li.append(documentIcon());
  }
  const label = document.createElement("span");
  label.className = "att-label";
  const name = document.createElement("span");
  name.className = "att-name";
  name.textContent = file.name;
  const meta = document.createElement("span");
  meta.className = "att-meta";
  meta.textContent = size(file.bytes ?? 0);
  label.append(name, meta);
  li.append(label);
  li.title = file.name;
  return li;
}

/** A page with a folded corner (no emoji: a machine without an emoji font shows a box). */
function documentIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  for (const [name, value] of Object.entries({
    class: "att-icon", viewBox: "0 0 24 24", width: "22", height: "22", "aria-hidden": "true", fill: "none",
    stroke: "currentColor", "stroke-width": "1.8", "stroke-linejoin": "round",
  })) svg.setAttribute(name, value);
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M6 3h8l4 4v14H6zM14 3v4h4M9 12h6M9 16h6");
  svg.append(path);
  return svg;
}
