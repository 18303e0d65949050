// Attachments (issue 13): the files of the question being written (a Tray: each file uploads at
// once, with its progress, and can be removed before sending, which deletes the upload), and
// how a question's files are drawn (image thumbnails, document chips), in the composer and in
// the thread. Images are shown from the server (/api/files/{id}); while one uploads, from a
// data: URL (the page's CSP allows no blob: images).

import { api, upload } from "./api.js";
import { capabilities } from "./capabilities.js";
import { errorText } from "./feedback.js";
import { t } from "./i18n.js";

/** @import { ErrorBody, FileInfo } from "./api.js" */

/**
 * @typedef {object} TrayItem a file of the question being written
 * @property {number} key
 * @property {string} name
 * @property {number} bytes
 * @property {string} [type] the blob's MIME type
 * @property {"image" | "document"} [kind]
 * @property {"uploading" | "ready" | "error"} status
 * @property {number} progress 0..1
 * @property {FileInfo} [file] once uploaded
 * @property {string} [preview] a data: URL of an image, while it uploads
 * @property {ErrorBody} [error]
 * @property {() => void} [abort] cancels the upload
 */

/** @typedef {TrayItem & {status: "ready", file: FileInfo}} ReadyItem */

/**
 * @typedef {object} FileShown what a file's chip or thumbnail shows
 * @property {string} name
 * @property {number} [bytes]
 * @property {"image" | "document"} [kind]
 * @property {string} [type]
 */

const PREVIEW_BYTES = 8 * 1024 * 1024; // images read for a preview while they upload
let keys = 0;

/** @param {FileShown} file */
export function isImage(file) {
  return (file.kind ?? (file.type?.startsWith("image/") && file.type !== "image/svg+xml" ? "image" : "document")) === "image";
}

/** @param {number} bytes @returns {string} */
export function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** The files of the question being written; dispatches "change" whenever one changes. */
export class Tray extends EventTarget {
  constructor() {
    super();
    /** @type {TrayItem[]} */
    this.items = [];
  }

  get uploading() {
    return this.items.some((i) => i.status === "uploading");
  }

  get hasImage() {
    return this.items.some((i) => i.status !== "error" && isImage(i));
  }

  /** The uploaded files' descriptions ({id, name, mime, bytes, kind}). */
  get files() {
    return this.items.filter((i) => i.status === "ready").map((i) => /** @type {FileInfo} */ (i.file));
  }

  /** @param {Iterable<Blob & {name?: string}>} list */
  add(list) {
    const { max_bytes: maxBytes, max_per_question: most } = capabilities.files;
    for (const blob of list) {
      const name = blob.name || `pasted-${Date.now()}.${(blob.type.split("/")[1] || "bin").replace(/\W/g, "")}`;
      /** @type {TrayItem} */
      const item = { key: ++keys, name, bytes: blob.size, type: blob.type, status: "uploading", progress: 0 };
      item.kind = isImage(item) ? "image" : "document";
      const kept = this.items.filter((i) => i.status !== "error").length;
      if (kept >= most) this.fail(item, { code: "too_many_files", message: t("attachTooMany", { count: most }) });
      else if (blob.size > maxBytes) {
        this.fail(item, { code: "payload_too_large", message: t("attachTooLarge", { name, limit: size(maxBytes) }) });
      } else this.start(item, blob);
      this.items.push(item);
    }
    this.changed();
  }

  /** @param {TrayItem} item @param {ErrorBody} error */
  fail(item, error) {
    item.status = "error";
    item.error = error;
  }

  /** @param {TrayItem} item @param {Blob} blob */
  start(item, blob) {
    if (item.kind === "image" && blob.size <= PREVIEW_BYTES) {
      const reader = new FileReader();
      reader.addEventListener("load", () => {
        item.preview = String(reader.result);
        this.changed();
      });
      reader.readAsDataURL(blob);
    }
    const job = upload(blob, (progress) => {
      item.progress = progress;
      this.changed();
    });
    item.abort = job.abort;
    job.promise.then(
      (file) => {
        if (!this.items.includes(item)) return void api.deleteFile(file.id).catch(() => {}); // removed meanwhile
        Object.assign(item, { status: "ready", progress: 1, file, kind: file.kind, name: file.name });
        this.changed();
      },
      (/** @type {any} */ error) => {
        if (error?.name === "AbortError") return;
        this.fail(item, { code: error.code, message: errorText(error) });
        this.changed();
      },
    );
  }

  /** Remove a file before sending: an upload under way is cancelled, a finished one deleted. */
  /** @param {number} key */
  remove(key) {
    const item = this.items.find((i) => i.key === key);
    if (!item) return;
    this.items = this.items.filter((i) => i !== item);
    if (item.status === "uploading") item.abort?.();
    else if (item.status === "ready") api.deleteFile(/** @type {ReadyItem} */ (item).file.id).catch(() => {});
    this.changed();
  }

  /** Sent: the files now belong to the question (nothing is deleted). */
  clear() {
    for (const item of this.items) if (item.status === "uploading") item.abort?.();
    this.items = [];
    this.changed();
  }

  /** Put back the files of a question the server did not take. */
  /** @param {FileInfo[]} files */
  restore(files) {
    if (this.items.length) return;
    this.items = files.map((file) => ({ key: ++keys, name: file.name, bytes: file.bytes, kind: file.kind, status: "ready", progress: 1, file }));
    this.changed();
  }

  changed() {
    this.dispatchEvent(new Event("change"));
  }
}

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
