// The page's custom elements and the CustomEvents they dispatch, for the type check
// (tools/js/tsconfig.json): querySelector("sc-composer") is an ScComposer, and a listener of
// "sc-send" gets its detail typed. The components' own comments say what each event means.

import type { ErrorBody, FileInfo } from "./static/js/api.js";
import type { StreamEvent } from "./static/js/sse.js";
import type { ScSettings } from "./static/js/components/sc-settings.js";
import type { ScSignIn } from "./static/js/components/sc-sign-in.js";

declare global {
  interface HTMLElementTagNameMap {
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
    attach(id: string, after?: number, prefill?: { text?: string; reasoning?: string } | null): Promise<Run>;
    follow(response: Response | null): Promise<Run>;
    reopen(attempt: number): Promise<Response | null>;
    read(response: Response): Promise<void>;
    settleFromStore(): Promise<void>;
  }
}
