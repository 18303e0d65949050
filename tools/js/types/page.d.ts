// The page's custom elements and the CustomEvents they dispatch, for the type check
// (tools/js/tsconfig.json): querySelector("sc-composer") is an ScComposer, and a listener of
// "sc-send" gets its detail typed. The components' own comments say what each event means.

import type { ErrorBody, FileInfo } from "./static/js/api.js";
import type { StreamEvent } from "./static/js/sse.js";
import type { AnswerPartsState } from "./static/js/tools.js";
import type { ScComposer } from "./static/js/components/sc-composer.js";
import type { ScMessage } from "./static/js/components/sc-message.js";
import type { ScSettings } from "./static/js/components/sc-settings.js";
import type { ScSignIn } from "./static/js/components/sc-sign-in.js";

declare global {
  interface HTMLElementTagNameMap {
    "sc-composer": ScComposer;
    "sc-message": ScMessage;
    "sc-settings": ScSettings;
    "sc-sign-in": ScSignIn;
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
}

// The methods a class takes from another module with Object.assign(X.prototype, methods), as
// members of the class; the module's object says `@satisfies {ThisType<X> & Pick<X, ...>}`, so
// its methods are checked against these and have the class as `this`.
declare module "./static/js/runs.js" {
  /** run-stream.js: reading the events to the end */
  interface Run {
    start(open: (signal: AbortSignal) => Promise<Response>): Promise<Run>;
    attach(id: string, after?: number, prefill?: { text?: string; reasoning?: string; reasoningMs?: number | null } | null): Promise<Run>;
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
    usage: import("./static/js/api.js").Usage | null | undefined;
    error: ErrorBody | null | undefined;
    done: import("./static/js/runs.js").Done;
    timed: boolean;
    reasoningMs: number | null;
    // a Run's, never set here
    stopping?: undefined;
    reconnecting?: undefined;
    lastId?: undefined;
    startedAt?: undefined;
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
    // sc-message-actions.js
    drawReconnecting(src: AnswerSource): void;
    drawEnd(src: AnswerSource, countdown?: boolean): void;
    countDown(target: HTMLButtonElement, label: string, seconds: number): void;
    startEdit(text?: string): void;
    onClick(event: MouseEvent): void;
  }
}
