// The server's JSON, as docs/api.md describes it (the fields the page reads): the @typedefs
// that api.js's calls resolve to and the other modules import (`@import { Message } from
// "./api-types.js"`). Types only, for the type check: no module loads this one.

/**
 * @typedef {object} ErrorBody `{error: ...}` of a failed call, an SSE `error` event's data
 * @property {string} [code]
 * @property {string} [message]
 * @property {boolean} [retryable]
 * @property {number | null} [retry_after] seconds
 * @property {string} [reason] which failure of the code it is (more fields: limit, length, ...)
 */

/**
 * @typedef {object} Conversation a conversation; `messages` only where a call returns them
 * @property {string} id
 * @property {string} title "" until one is written
 * @property {string | null} model
 * @property {string | null} system_prompt
 * @property {Params} params
 * @property {string} [created_at]
 * @property {string} [updated_at]
 * @property {string | null} [current_message_id]
 * @property {Message[]} [messages] its current path, oldest first (`tree`: every message)
 */

/**
 * @typedef {object} Params what the user set of a conversation's parameters, and its switches
 * @property {number} [temperature]
 * @property {boolean} [web_search]
 * @property {boolean} [thinking]
 */

/**
 * @typedef {object} Message a question ("user") or an answer ("assistant")
 * @property {string} id
 * @property {string | null} parent_id
 * @property {string[]} sibling_ids its versions in creation order, itself included
 * @property {"user" | "assistant" | "system"} role
 * @property {string} content
 * @property {string | null} [reasoning]
 * @property {string | null} [model]
 * @property {"streaming" | "complete" | "stopped" | "incomplete" | "error"} status
 * @property {string | null} [finish_reason]
 * @property {Usage | null} [usage]
 * @property {ErrorBody | null} [error]
 * @property {number | null} [ttft_ms]
 * @property {number | null} [total_ms]
 * @property {number | null} [reasoning_ms]
 * @property {number | null} [last_event_id]
 * @property {string} [created_at]
 */

/**
 * @typedef {object} Usage
 * @property {number} prompt_tokens
 * @property {number} completion_tokens
 * @property {number} total_tokens
 * @property {boolean} [estimated]
 */

/**
 * @typedef {object} ConversationList GET /api/conversations
 * @property {Conversation[]} conversations newest activity first
 * @property {number} limit
 * @property {number} offset
 * @property {boolean} has_more
 */

/**
 * @typedef {object} FileInfo an upload (POST /api/files, GET /api/files/{id}/meta)
 * @property {string} id
 * @property {string} name
 * @property {string} mime
 * @property {number} bytes
 * @property {"image" | "document"} kind
 * @property {string | null} [conversation_id]
 * @property {string} [created_at]
 */

/**
 * @typedef {object} Model an entry of GET /api/models
 * @property {string} id
 * @property {string} provider
 * @property {number | null} [context_window]
 * @property {boolean} [reasoning]
 */

/**
 * @typedef {object} ModelList GET /api/models
 * @property {string} [default]
 * @property {Model[]} [models]
 */

/** @typedef {Abilities & {id: string, provider: string}} ModelCapabilities an entry of GET /api/capabilities */

/**
 * @typedef {object} Abilities what a client may offer for a model
 * @property {boolean} vision
 * @property {"kimi" | "reasoning_effort" | null} thinking
 * @property {boolean} web_search
 * @property {boolean} continue
 * @property {boolean} file_extract
 */

/**
 * @typedef {object} FileLimits the upload limits of GET /api/capabilities
 * @property {number} max_bytes
 * @property {number} max_per_question
 * @property {number} [max_image_pixels]
 * @property {string[]} types
 */

/**
 * @typedef {object} CapabilityList GET /api/capabilities
 * @property {ModelCapabilities[]} [models]
 * @property {Partial<FileLimits>} [files]
 */

/**
 * @typedef {object} Session GET /api/session
 * @property {string | null} user who the page is signed in as
 * @property {boolean} auth_required
 */

/**
 * @typedef {object} SearchResult a message (`message_id`, `role`) or, with both null, a title
 * @property {string} conversation_id
 * @property {string} title
 * @property {[number, number][]} title_marks [start, end) in code points of `title`
 * @property {string | null} message_id
 * @property {"user" | "assistant" | null} role
 * @property {string} snippet
 * @property {[number, number][]} marks [start, end) in code points of `snippet`
 * @property {string} [at]
 */

/**
 * @typedef {object} SearchPage GET /api/search
 * @property {string} query
 * @property {number} limit
 * @property {number} offset
 * @property {boolean} has_more
 * @property {SearchResult[]} results
 */

/** @typedef {Record<string, FileInfo[]>} AttachmentMap the files of each question, by its id */

export {};
