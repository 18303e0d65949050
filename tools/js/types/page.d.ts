// The page's custom elements and the CustomEvents they dispatch, for the type check
// (tools/js/tsconfig.json): querySelector("sc-composer") is an ScComposer, and a listener of
// "sc-send" gets its detail typed. The components' own comments say what each event means.

import type { ErrorBody, FileInfo } from "./static/js/api-types.js";
import type { StreamEvent } from "./static/js/sse.js";
import type { AnswerPartsState } from "./static/js/tools.js";
import type { ScComposer } from "./static/js/components/sc-composer.js";
import type { ScMessage } from "./static/js/components/sc-message.js";
import type { ScSettings } from "./static/js/components/sc-settings.js";
import type { ScSignIn } from "./static/js/components/sc-sign-in.js";
import type { ScSidebar } from "./static/js/components/sc-sidebar.js";

declare global {
  interface HTMLElementTagNameMap {
    "sc-composer": ScComposer;
    "sc-message": ScMessage;
    "sc-settings": ScSettings;
    "sc-sign-in": ScSignIn;
    "sc-sidebar": ScSidebar;
  }

  /** The switches a question is sent with (only those the model offers and someone set). */
  interface Switches {
    web_search?: boolean;
    thinking?: boolean;
  }

  interface HTMLElementEventMap {
    // sc-composer
    "sc-send": CustomEvent<{ text: string; files: FileInfo[]; switches: Switches }>;
    "sc-stop": CustomEvent<null>;
    // sc-sign-in
    "sc-sign-in": CustomEvent<{ token: string }>;
    // sc-settings
    "sc-save-settings": CustomEvent<{ model: string; system_prompt: string; temperature: number | null }>;
    "sc-export": CustomEvent<{ format: "markdown" | "json" }>;
    // sc-sidebar
    "sc-more": CustomEvent<null>;
    "sc-delete": CustomEvent<{ id: string }>;
    "sc-rename": CustomEvent<{ id: string; title: string }>;
    "sc-search-focus": CustomEvent<null>;
    "sc-open-result": CustomEvent<{ conversationId: string; messageId: string | null }>;
    // sc-message (bubbling to the thread; the target is the bubble)
    "sc-regenerate": CustomEvent<null>;
    "sc-continue": CustomEvent<null>;
    "sc-edit": CustomEvent<{ text: string }>;
    "sc-retry": CustomEvent<{ error: ErrorBody | null | undefined }>;
    "sc-resend": CustomEvent<null>;
    "sc-edit-resend": CustomEvent<null>;
    "sc-version": CustomEvent<{ id: string; step: number }>;
    "sc-rendered": CustomEvent<null>;
  }

  interface DocumentEventMap {
    /** An API call was answered 401 (session.js asks the user to sign in again). */
    "sc-unauthorized": CustomEvent<null>;
  }
}

declare global {
  /** The benchmark's probe (bench/), when it is installed: hears arrivals and renders. */
  var streamchatProbe:
    | { arrival(event: StreamEvent): void; rendered(lastId: number, ms: number, chars: number): void }
    | undefined;
  /** main.js: the page's controller, for the tests and the benchmark */
  var streamchatApp: import("./static/js/app.js").App | undefined;
}

// The methods a class takes from another module with Object.assign(X.prototype, methods), as
// members of the class; the module's object says `@satisfies {ThisType<X> & Pick<X, ...>}`, so
// its methods are checked against these and have the class as `this`.
declare module "./static/js/runs.js" {
  /** run-stream.js: reading the events to the end */
  interface Run {
    start(open: (signal: AbortSignal) => Promise<Response>): Promise<Run>;
    attach(id: string, after?: number, prefill?: { text?: string; reasoning?: string | null; reasoningMs?: number | null } | null): Promise<Run>;
    follow(response: Response | null): Promise<Run>;
    reopen(attempt: number): Promise<Response | null>;
    read(response: Response): Promise<void>;
    settleFromStore(): Promise<void>;
  }
}

declare global {
  /** What names a bubble: a stored message, or a new one's ids (branches.js `named`). */
  interface MessageName {
    id: string;
    parent_id?: string | null;
    sibling_ids?: string[];
  }

  /** What a bubble draws an answer from: its Run while it streams, else the stored message's fields. */
  type AnswerSource = import("./static/js/runs.js").Run | StoredAnswer;

  /** sc-message.js's showStored: a stored answer, in a Run's terms. */
  interface StoredAnswer {
    id: string;
    text: string;
    reasoning: string;
    model: string | null | undefined;
    status: import("./static/js/runs.js").RunStatus;
    finished: boolean;
    usage: import("./static/js/api-types.js").Usage | null | undefined;
    error: ErrorBody | null | undefined;
    done: import("./static/js/runs.js").Done;
    timed: boolean;
    reasoningMs: number | null;
    // a Run's, never set here
    stopping?: undefined;
    origin?: undefined;
    // kimi.js: the tool chips replayed (or a refused Continue's)
    tools?: import("./static/js/tools.js").ToolCall[];
    reconnecting?: undefined;
    lastId?: undefined;
    startedAt?: undefined;
    reasoningStart?: undefined;
  }
}

declare global {
  /** The parts of a bubble looked up once (sc-message.js's setup), by class name. */
  interface BubbleParts {
    "msg-wait": HTMLElement;
    "wait-text": HTMLElement;
    "thinking-text": HTMLElement;
    "msg-model": HTMLElement;
    thinking: HTMLDetailsElement;
    "thinking-label": HTMLElement;
    "msg-error": HTMLElement;
    "err-text": HTMLElement;
    retry: HTMLButtonElement;
    resend: HTMLButtonElement;
    "edit-resend": HTMLButtonElement;
    "status-badge": HTMLElement;
    stats: HTMLElement;
    versions: HTMLElement;
    "version-prev": HTMLButtonElement;
    "version-count": HTMLElement;
    "version-next": HTMLButtonElement;
    "unsent-badge": HTMLElement;
  }
}

declare module "./static/js/components/sc-message.js" {
  interface ScMessage extends AnswerPartsState {
    // the bubble's state (set by setup(), then by the drawing)
    kind: "user" | "assistant";
    labels: HTMLElement[];
    body: HTMLElement;
    els: BubbleParts;
    stream: import("./static/js/markdown-stream.js").MarkdownStream;
    thinkingText: Text;
    onChange: (event: Event) => void;
    messageId: string | null;
    parentId: string | null;
    siblingIds: string[];
    locked: boolean;
    run: import("./static/js/runs.js").Run | null;
    source: AnswerSource | null | undefined;
    drawn: { text: number; reasoning: number; finished: boolean; collapsed: boolean; stored: boolean };
    frame: number;
    text: string;
    waitTimer: number;
    thinkTimer: number;
    countdown: number;
    files: FileInfo[];
    // sc-message-versions.js
    setMessage(message: MessageName): void;
    setVersions(siblingIds: string[]): void;
    setLocked(locked: boolean): void;
    drawVersions(): void;
    switchVersion(step: number): void;
    // sc-message-thinking.js
    drawWaiting(src: AnswerSource): void;
    drawReasoning(src: AnswerSource): void;
    thinkingFor(src: AnswerSource): string;
    // sc-message-actions.js
    drawReconnecting(src: AnswerSource): void;
    drawEnd(src: AnswerSource, countdown?: boolean): void;
    countDown(target: HTMLButtonElement, label: string, seconds: number): void;
    startEdit(text?: string): void;
    onClick(event: MouseEvent): void;
  }
}

declare module "./static/js/runs.js" {
  interface Run {
    /** app.js: the view the run was started from (none for a re-attached or continued-into run) */
    view?: AppView;
  }
}

declare global {
  /** app.js: the chat shown, and the run started from it */
  interface AppView {
    run: import("./static/js/runs.js").Run | null;
  }

  /** app.js: the settings of a new chat, before it has a conversation */
  interface Draft {
    model: string | null;
    system_prompt: string;
    params: import("./static/js/api-types.js").Params;
  }
}

declare module "./static/js/app.js" {
  interface App {
    // set once the catalog is read (start), then by setModel
    model: string;
    // kimi.js: whose switches the composer shows (a conversation's id, null for a new chat)
    switchKey: string | null | undefined;
    // routes.js
    route(): Promise<void> | void;
    newChat(): void;
    showNew(): void;
    open(id: string): Promise<void>;
    renderThread(messages: import("./static/js/api-types.js").Message[]): void;
    runFor(message: import("./static/js/api-types.js").Message): import("./static/js/runs.js").Run;
    navOpen(open: boolean): void;
    updateView(): void;
    showVersion(id: string, step: number): Promise<void>;
    refreshVersions(): Promise<void>;
    adopt(conversation: import("./static/js/api-types.js").Conversation): void;
    // tracking.js
    track(run: import("./static/js/runs.js").Run): import("./static/js/runs.js").Run;
    onRun(run: import("./static/js/runs.js").Run, type: string): void;
    refused(run: import("./static/js/runs.js").Run): void;
    // conversations.js
    refreshList(): Promise<void>;
    loadMore(): Promise<void>;
    rename(id: string, title: string): Promise<void>;
    awaitTitle(id: string): Promise<void>;
    remove(id: string): Promise<void>;
    // settings.js
    setModel(id: string): void;
    chooseModel(id: string): Promise<void>;
    openSettings(): void;
    saveSettings(values: HTMLElementEventMap["sc-save-settings"]["detail"]): Promise<void>;
    exportAs(format: "markdown" | "json"): Promise<void>;
    retranslate(): void;
    // search.js
    openResult(result: HTMLElementEventMap["sc-open-result"]["detail"]): Promise<void>;
    // kimi.js
    loadCapabilities(): Promise<void>;
    offerFor(model: string): void;
    questionFiles(question: ScMessage, origin: import("./static/js/runs.js").Origin, from: ScMessage | null): void;
    loadExtras(messages: import("./static/js/api-types.js").Message[]): Promise<void>;
    replayTools(bubble: ScMessage): Promise<void>;
    continueAnswer(answer: ScMessage): void;
  }
}

declare module "./static/js/components/sc-sidebar.js" {
  interface ScSidebar {
    // the list (set by connectedCallback, then by show)
    list: HTMLUListElement;
    items: import("./static/js/api-types.js").Conversation[];
    streaming: Set<string>;
    currentId: string | null;
    /** show()'s arguments, kept while a title is being edited */
    deferred: [import("./static/js/api-types.js").Conversation[], boolean] | null | undefined;
    hasMore: boolean;
    // sc-sidebar-rows.js
    setupRows(): void;
    onClick(event: MouseEvent): void;
    onKey(event: KeyboardEvent): void;
    startRename(li: HTMLElement): void;
    // sc-sidebar-search.js (its state set by setupSearch)
    searchInput: HTMLInputElement;
    searchList: HTMLUListElement;
    searchStatus: HTMLElement;
    searchMore: HTMLButtonElement;
    hits: import("./static/js/api-types.js").SearchResult[];
    active: number;
    searching: boolean;
    searchTimer: number | undefined;
    searchQuery: string;
    searchError: unknown;
    searchAbort: AbortController | undefined;
    searchHasMore: boolean;
    setupSearch(): void;
    translateSearch(): void;
    runSearch(): Promise<void>;
    moreHits(): Promise<void>;
    showHits(hits: import("./static/js/api-types.js").SearchResult[], q: string, active?: number): void;
    hitEntry(hit: import("./static/js/api-types.js").SearchResult, index: number): HTMLLIElement;
    markActive(): void;
    onSearchKey(event: KeyboardEvent): void;
    openHit(index: number): void;
    endSearch(): void;
  }
}
