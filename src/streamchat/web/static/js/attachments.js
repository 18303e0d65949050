// Attachments (issue 13): the files of the question being written (a Tray: each file is checked
// against the upload limits and uploads at once, with its progress, and can be removed before
// sending, which deletes the upload; an image is read as a data: URL for its preview meanwhile,
// as the page's CSP allows no blob: images). attachment-chips.js draws them.

import { api, upload } from "./api.js";
import { capabilities } from "./capabilities.js";
import { errorText } from "./feedback.js";
import { t } from "./i18n.js";

/** @import { ErrorBody, FileInfo } from "./api-types.js" */

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
