// The sidebar's conversations: the list (read again after an answer, as far as it was loaded),
// Load more, Rename, Delete, the title a first answer's model writes. Methods of App (app.js), kept here by their job.

import { api } from "./api.js";
import { guard } from "./feedback.js";
/** @import { App } from "./app.js" */
/** @import { ConversationList } from "./api-types.js" */

const PAGE = 50;
const MAX_PAGE = 200; // the most GET /api/conversations gives at once

/**
 * Methods of App (app.js).
 * @satisfies {ThisType<App> & Pick<App, "refreshList" | "loadMore" | "rename" | "awaitTitle" | "remove">}
 */
export const conversations = {
  /** Read the list again, as far as it was loaded (Load more is not undone by an answer). */
  async refreshList() {
    // one more than was shown: a new conversation comes in on top and pushes none out
    const want = this.list.length > PAGE ? this.list.length + 1 : PAGE;
    const list = [];
    let more;
    do {
      /** @type {ConversationList | null} */
      const page = await guard(api.conversations(Math.min(MAX_PAGE, want - list.length), list.length));
      if (!page) return;
      list.push(...page.conversations);
      more = page.has_more;
    } while (more && list.length < want);
    this.list = list;
    this.sidebar.show(this.list, more);
  },

  async loadMore() {
    const page = await guard(api.conversations(PAGE, this.list.length));
    if (!page) return;
    this.list = [...this.list, ...page.conversations];
    this.sidebar.show(this.list, page.has_more);
  },

  async rename(id, title) {
    const updated = await guard(api.updateConversation(id, { title }));
    if (updated && this.conversation?.id === id) {
      this.conversation.title = updated.title;
      this.updateView();
    }
    this.refreshList();
  },

  /** After a first answer (`done` says `title_pending`): its model's title, once written. */
  async awaitTitle(id) {
    const titled = await api.conversationTitle(id).catch(() => null); // none: the first words stay
    if (!titled) return;
    if (this.conversation?.id === id && this.conversation.title !== titled.title) {
      this.conversation.title = titled.title;
      this.updateView();
    }
    this.refreshList();
  },

  async remove(id) {
    const deleted = await guard(api.deleteConversation(id).then(() => true));
    if (!deleted) return;
    if (this.conversation?.id === id) this.newChat();
    this.refreshList();
  },
};
