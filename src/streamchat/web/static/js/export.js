// Export a conversation (as GET /api/conversations/{id} returns it) as Markdown or JSON, with
// its questions' files (`files`: GET /api/conversations/{id}/attachments, by question id).

import { size } from "./attachments.js";
import { t } from "./i18n.js";

/** @import { AttachmentMap, Conversation, Message } from "./api-types.js" */
/** @typedef {Conversation & {messages: Message[]}} FullConversation */

/** @param {FullConversation} conversation @param {AttachmentMap} [files] @returns {string} */
export function toMarkdown(conversation, files = {}) {
  const lines = [`# ${conversation.title || t("untitled")}`, ""];
  if (conversation.system_prompt) lines.push(`> ${t("systemPrompt")}: ${conversation.system_prompt}`, "");
  for (const message of conversation.messages) {
    if (message.role === "user") {
      lines.push(`## ${t("you")}`, "", message.content, "");
      const attached = files[message.id] ?? [];
      if (attached.length) {
        lines.push(`${t("attachments")}:`, "");
        for (const file of attached) lines.push(`- 📎 ${file.name} (${file.mime}, ${size(file.bytes)})`);
        lines.push("");
      }
    } else if (message.role === "assistant") {
      lines.push(`## ${t("assistant")}${message.model ? ` (${message.model})` : ""}`, "");
      if (message.reasoning) {
        lines.push(...message.reasoning.split("\n").map((line) => `> ${line}`), "");
      }
      lines.push(message.content || "", "");
      if (message.status !== "complete") lines.push(`_${message.status}_`, "");
    }
  }
  return `${lines.join("\n").trimEnd()}\n`;
}

/** @param {FullConversation} conversation @param {AttachmentMap} [files] @returns {string} */
export function toJSON(conversation, files = {}) {
  const messages = conversation.messages.map((m) => (files[m.id] ? { ...m, attachments: files[m.id] } : m));
  return `${JSON.stringify({ ...conversation, messages }, null, 2)}\n`;
}

/** @param {Conversation} conversation @param {string} extension @returns {string} */
export function fileName(conversation, extension) {
  const slug = (conversation.title || "conversation")
    .normalize("NFKC")
    .replace(/[^\p{L}\p{N}]+/gu, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 60) || "conversation";
  return `${slug}.${extension}`;
}

/** @param {string} name @param {string} text @param {string} type a MIME type */
export function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
