// Interface text in English and Simplified Chinese. The language comes from localStorage (the
// user's choice), else the browser's languages; t(key, vars) looks a string up and fills {name}
// placeholders; translate(root) fills [data-i18n] text and [data-i18n-attr="attr:key;..."].

/** @type {Record<string, Record<string, string>>} */
const STRINGS = {
  en: {
    appName: "streamchat",
    // search (issue 14)
    searchLabel: "Search conversations",
    searchPlaceholder: "Search ({keys})",
    searchResults: "Results: {n}",
    searchNone: "Nothing found for “{q}”.",
    searchYou: "You:",
    searchAssistant: "Answer:",
    searchMore: "More results",
    skip: "Skip to the message input",
    newChat: "New chat",
    conversations: "Conversations",
    openConversations: "Show conversations",
    loadMore: "Load more",
    noConversations: "No conversations yet.",
    rename: "Rename",
    renameTitle: "Rename “{title}”",
    delete: "Delete",
    deleteConfirm: "Delete?",
    deleteTitle: "Delete “{title}”",
    streamingDot: "answering",
    language: "Language",
    model: "Model",
    settings: "Conversation settings",
    systemPrompt: "System prompt",
    temperature: "Temperature",
    temperatureDefault: "model default",
    save: "Save",
    cancel: "Cancel",
    close: "Close",
    exportMarkdown: "Export Markdown",
    exportJson: "Export JSON",
    exportTitle: "Export",
    settingsSaved: "Settings saved",
    demoNotice:
      "You are using the offline demo model: its answers are canned. To chat with Kimi, start the server with {command}, or configure another provider in a config file (see the README).",
    messages: "Messages",
    emptyTitle: "Ask anything",
    emptyBody: "Answers stream in as they are written. Enter sends, Shift+Enter adds a new line.",
    inputLabel: "Message",
    inputPlaceholder: "Message streamchat… (Enter to send, Shift+Enter for a new line)",
    send: "Send",
    stop: "Stop",
    you: "You",
    assistant: "Assistant",
    thinking: "Thinking…",
    editing: "Editing your question",
    waiting: "Waiting for the answer…",
    waitingFor: "Waiting for the answer… {seconds} s",
    thoughtFor: "Thought for {seconds} s",
    thoughts: "Thoughts",
    copy: "Copy",
    copied: "Copied",
    copyAnswer: "Copy answer",
    regenerate: "Regenerate",
    edit: "Edit",
    editSend: "Send",
    retry: "Retry",
    resend: "Resend",
    editResend: "Edit & resend",
    againIn: "{label} ({seconds} s)",
    notSent: "not sent",
    refusedWait: "{message} (try again in {seconds} s)",
    conflict:
      "An answer is still being written in this conversation, perhaps in another tab. Nothing was changed: try again when it has finished.",
    versionOf: "Version {n} of {m}",
    previousVersion: "Previous version",
    nextVersion: "Next version",
    stopped: "stopped",
    incomplete: "incomplete",
    reconnecting: "Connection lost, reconnecting…",
    jump: "Jump to latest",
    tokens: "{count} tokens",
    tokensEstimated: "~{count} tokens (estimated)",
    ttft: "first token {ms} ms",
    rate: "{rate} tokens/s",
    errorTitle: "Error",
    errorNetwork: "The connection failed: the server could not be reached. Check your network and try again.",
    theme: "Theme",
    themeSystem: "System",
    themeLight: "Light",
    themeDark: "Dark",
    dismiss: "Dismiss",
    inputPlaceholderTouch: "Message streamchat…",
    renameKeys: "F2 renames, Delete deletes",
    errorConnectionLost: "The connection to the server was lost.",
    answerDone: "Answer complete.",
    answerStopped: "Answer stopped.",
    answerFailed: "The answer failed: {message}",
    imageLink: "image: {alt}",
    // issue 13: attachments, switches, tools, Continue
    attach: "Attach files (or paste, or drop them here)",
    attachments: "Attachments",
    attachRemove: "Remove {name}",
    attachUploading: "Uploading {name}: {percent} %",
    attachWait: "Wait for the files to finish uploading, then send.",
    attachTooMany: "At most {count} files per question.",
    attachTooLarge: "{name} is over the {limit} limit.",
    cannotSee: "The model {model} cannot see images: choose a model that can (a vision model), or remove the image.",
    webSearch: "Web search",
    thinkingSwitch: "Thinking",
    tools: "Tools used",
    toolSearching: "Searching the web…",
    toolSearched: "Searched the web",
    toolSearchFailed: "Web search failed",
    toolRunning: "Running {name}…",
    toolDone: "Ran {name}",
    toolFailed: "{name} failed",
    continueAnswer: "Continue",
    cutOff: "cut off at the length limit",
    dropFiles: "Drop files to attach them",
    rawHtml: "raw HTML",
    untitled: "New chat",
    signInTitle: "Sign in",
    signInHelp: "This server requires an account. Paste your API token (an administrator creates one with streamchat users add NAME).",
    tokenLabel: "API token",
    signIn: "Sign in",
    signInInvalid: "That token is not valid. Check it, or ask for a new one.",
    signInRefused:
      "The server accepted the token, but the browser did not keep the session cookie: it is Secure, so open the page over HTTPS (or on localhost).",
    signedInAs: "Signed in as {user}",
    signOut: "Sign out",
  },
  "zh-CN": {
    appName: "streamchat",
    // search (issue 14)
    searchLabel: "搜索会话",
    searchPlaceholder: "搜索（{keys}）",
    searchResults: "结果：{n} 条",
    searchNone: "没有找到“{q}”。",
    searchYou: "你：",
    searchAssistant: "回答：",
    searchMore: "更多结果",
    skip: "跳到输入框",
    newChat: "新对话",
    conversations: "对话列表",
    openConversations: "显示对话列表",
    loadMore: "加载更多",
    noConversations: "还没有对话。",
    rename: "重命名",
    renameTitle: "重命名“{title}”",
    delete: "删除",
    deleteConfirm: "确认删除？",
    deleteTitle: "删除“{title}”",
    streamingDot: "回答中",
    language: "语言",
    model: "模型",
    settings: "对话设置",
    systemPrompt: "系统提示词",
    temperature: "温度",
    temperatureDefault: "模型默认",
    save: "保存",
    cancel: "取消",
    close: "关闭",
    exportMarkdown: "导出 Markdown",
    exportJson: "导出 JSON",
    exportTitle: "导出",
    settingsSaved: "设置已保存",
    demoNotice:
      "你正在使用离线演示模型，回答是预设的。要和 Kimi 对话，请用 {command} 启动服务，或在配置文件中配置其他提供商（见 README）。",
    messages: "消息",
    emptyTitle: "有什么想问的？",
    emptyBody: "回答会边生成边显示。按 Enter 发送，Shift+Enter 换行。",
    inputLabel: "消息",
    inputPlaceholder: "给 streamchat 发消息…（Enter 发送，Shift+Enter 换行）",
    send: "发送",
    stop: "停止",
    you: "你",
    assistant: "助手",
    thinking: "思考中…",
    editing: "正在编辑问题",
    waiting: "正在等待回答…",
    waitingFor: "正在等待回答… {seconds} 秒",
    thoughtFor: "思考了 {seconds} 秒",
    thoughts: "思考过程",
    copy: "复制",
    copied: "已复制",
    copyAnswer: "复制回答",
    regenerate: "重新生成",
    edit: "编辑",
    editSend: "发送",
    retry: "重试",
    resend: "重新发送",
    editResend: "编辑后重新发送",
    againIn: "{label}（{seconds} 秒）",
    notSent: "未发送",
    refusedWait: "{message}（{seconds} 秒后再试）",
    conflict: "此对话中还有一个回答正在生成（可能在另一个标签页中）。没有做任何更改：请等它完成后再试。",
    versionOf: "第 {n} 个版本，共 {m} 个",
    previousVersion: "上一个版本",
    nextVersion: "下一个版本",
    stopped: "已停止",
    incomplete: "未完成",
    reconnecting: "连接中断，正在重连…",
    jump: "跳到最新",
    tokens: "{count} 个 token",
    tokensEstimated: "约 {count} 个 token（估算）",
    ttft: "首个 token {ms} 毫秒",
    rate: "{rate} token/秒",
    errorTitle: "出错了",
    errorNetwork: "连接失败：无法连接到服务器。请检查网络后重试。",
    theme: "主题",
    themeSystem: "跟随系统",
    themeLight: "浅色",
    themeDark: "深色",
    dismiss: "关闭",
    inputPlaceholderTouch: "给 streamchat 发消息…",
    renameKeys: "F2 重命名，Delete 删除",
    // -- errors (issue 14 item 6): every code the server sends the page, and the reasons of
    // invalid_request / payload_too_large, with the error's fields ({limit}, {length}, ...)
    err_invalid_request: "请求无效：{message}",
    err_message_empty: "消息不能为空。",
    err_message_too_long: "消息有 {length} 个字符，超过了 {limit} 个字符的上限。",
    err_too_many_attachments: "附加了 {count} 个文件，每个问题最多 {limit} 个。",
    err_file_elsewhere: "这个文件已附加在另一个对话中，请重新上传。",
    err_file_empty: "{name} 是空文件。",
    err_file_mislabelled: "{name} 的扩展名与文件内容不符，请重命名或附加正确的文件。",
    err_file_truncated: "{name} 不完整（文件被截断了）。",
    err_file_damaged: "{name} 已损坏，无法读取。",
    err_image_too_large: "{name} 的像素太多，上限是 {limit} 像素。",
    err_pdf_encrypted: "{name} 是加密的 PDF，请附加未加密的版本。",
    err_pdf_no_text: "{name} 中没有可读取的文字（可能是扫描件）。",
    err_storage_full: "你的文件将超过 {limit} 字节的存储上限，请先删除一些文件。",
    err_payload_too_large: "请求太大了，上限是 {limit} 字节。",
    err_unsupported_file_type: "{name} 的类型不受支持（支持图片、PDF 和 UTF-8 文本）。",
    err_too_many_files: "你已保存 {count} 个文件，达到上限，请先删除一些。",
    err_unknown_model: "没有提供商提供模型 {model}。",
    err_model_not_found: "找不到这个模型。",
    err_model_cannot_see: "模型 {model} 无法查看图片（{images}），请换一个能看图的模型，或移除图片。",
    err_context_too_small:
      "附加的文档和问题约有 {tokens} 个 token，超出了模型 {model} 的上下文长度（{context_window}，其中 {reserve} 留给回答）。",
    err_web_search_unavailable: "模型 {model} 不提供联网搜索。",
    err_thinking_unavailable: "模型 {model} 没有思考开关。",
    err_continue_unavailable: "模型 {model} 的提供商不支持继续生成。",
    err_not_continuable: "只有因长度上限而停止的回答才能继续生成。",
    err_tool_rounds_exceeded: "模型调用工具的次数超过了上限。",
    err_not_found: "找不到要找的内容（可能已被删除）。",
    err_conflict: "此对话中还有一个回答正在生成，请停止它或等它完成。",
    err_replay_expired: "这个回答的实时事件已过期，请重新加载对话。",
    err_idempotency_key_in_use: "同一个请求还在处理中，请稍后再试。",
    err_idempotency_key_reused: "这个幂等键已用于另一个请求。",
    err_rate_limited: "一分钟内最多开始 {limit} 个回答，请稍后再试。",
    err_too_many_streams: "同时进行的回答已达上限（{limit} 个），请停止一个或稍后再试。",
    err_unauthorized: "需要登录，或者令牌已失效。",
    err_forbidden: "请求被拒绝：它来自另一个来源。",
    err_misdirected_request: "服务器不接受这个主机名。",
    err_method_not_allowed: "服务器不接受这种请求方式。",
    err_store_unavailable: "数据库暂时不可用，请稍后再试。",
    err_server_restarting: "服务器正在重启，请稍后再试。",
    err_broker_unavailable: "服务器之间的消息通道暂时不可用，请稍后再试。",
    err_interrupted: "服务器重启，回答被中断了。",
    err_internal_error: "服务器出错了。",
    err_server_error: "服务器出错了。",
    err_error: "服务器返回了错误。",
    err_upstream_rate_limited: "模型服务商限流了这个请求，请稍后再试。",
    err_upstream_quota: "模型服务商账户的额度已用完。",
    err_upstream_unavailable: "模型服务商暂时不可用，请稍后再试。",
    err_upstream_timeout: "模型服务商响应超时。",
    err_upstream_connect: "无法连接到模型服务商。",
    err_upstream_auth: "模型服务商拒绝了凭据（API 密钥无效或无权限）。",
    err_upstream_content_filter: "模型服务商的内容过滤拦截了这个回答。",
    err_upstream_error: "模型服务商返回了错误。",
    err_upstream_bad_response: "模型服务商返回了无法读取的响应。",
    err_upstream_dropped: "与模型服务商的连接中断了。",
    err_upstream_bad_request: "模型服务商拒绝了这个请求。",
    err_upstream_not_found: "模型服务商找不到这个模型。",
    errorConnectionLost: "与服务器的连接已断开。",
    answerDone: "回答完成。",
    answerStopped: "回答已停止。",
    answerFailed: "回答失败：{message}",
    imageLink: "图片：{alt}",
    // issue 13：附件、开关、工具、继续生成
    attach: "添加文件（也可以粘贴或拖放到这里）",
    attachments: "附件",
    attachRemove: "移除 {name}",
    attachUploading: "正在上传 {name}：{percent}%",
    attachWait: "请等文件上传完成后再发送。",
    attachTooMany: "每个问题最多 {count} 个文件。",
    attachTooLarge: "{name} 超过了 {limit} 的大小限制。",
    cannotSee: "模型 {model} 无法识别图片：请选择支持视觉的模型，或移除图片。",
    webSearch: "联网搜索",
    thinkingSwitch: "深度思考",
    tools: "使用的工具",
    toolSearching: "正在联网搜索…",
    toolSearched: "已联网搜索",
    toolSearchFailed: "联网搜索失败",
    toolRunning: "正在运行 {name}…",
    toolDone: "已运行 {name}",
    toolFailed: "{name} 运行失败",
    continueAnswer: "继续生成",
    cutOff: "因长度限制被截断",
    dropFiles: "松开鼠标即可添加文件",
    rawHtml: "原始 HTML",
    untitled: "新对话",
    signInTitle: "登录",
    signInHelp: "此服务器需要账户。请粘贴你的 API 令牌（由管理员用 streamchat users add NAME 创建）。",
    tokenLabel: "API 令牌",
    signIn: "登录",
    signInInvalid: "令牌无效。请检查，或申请一个新的令牌。",
    signInRefused: "服务器接受了令牌，但浏览器没有保存会话 Cookie：它带有 Secure 标记，请通过 HTTPS（或 localhost）打开页面。",
    signedInAs: "已登录：{user}",
    signOut: "退出登录",
  },
};

export const LANGUAGES = [
  { code: "en", name: "English" },
  { code: "zh-CN", name: "简体中文" },
];
const STORAGE_KEY = "streamchat.lang";
let current = "en";

export function detectLanguage() {
  const saved = safeStorage()?.getItem(STORAGE_KEY);
  if (saved && STRINGS[saved]) return saved;
  for (const lang of navigator.languages || [navigator.language]) {
    if (/^zh\b/i.test(lang) && !/^zh-(TW|HK|MO|Hant)/i.test(lang)) return "zh-CN";
    if (/^en\b/i.test(lang)) return "en";
  }
  return "en";
}

/** @param {string} lang @param {{remember?: boolean}} [options] @returns {string} the language set */
export function setLanguage(lang, { remember = false } = {}) {
  current = STRINGS[lang] ? lang : "en";
  document.documentElement.lang = current;
  if (remember) safeStorage()?.setItem(STORAGE_KEY, current);
  return current;
}

export function language() {
  return current;
}

/**
 * The string for `key` in the current language itself (no English fallback), or null.
 * @param {string} key
 * @returns {string | null}
 */
export function own(key) {
  return STRINGS[current][key] ?? null;
}

/**
 * @param {string} key
 * @param {Record<string, unknown>} [vars] the {name} placeholders' values
 * @returns {string}
 */
export function t(key, vars = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/** @param {Document | Element | DocumentFragment} [root] */
export function translate(root = document) {
  /** @type {NodeListOf<HTMLElement>} */
  const texts = root.querySelectorAll("[data-i18n]");
  for (const el of texts) el.textContent = t(/** @type {string} */ (el.dataset.i18n));
  /** @type {NodeListOf<HTMLElement>} */
  const attributed = root.querySelectorAll("[data-i18n-attr]");
  for (const el of attributed) {
    for (const pair of /** @type {string} */ (el.dataset.i18nAttr).split(";")) {
      const [attr, key] = pair.split(":");
      el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}

function safeStorage() {
  try {
    return globalThis.localStorage;
  } catch {
    return null;
  }
}
