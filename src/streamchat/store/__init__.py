"""Where conversations live. One interface; :mod:`streamchat.store.sql` implements it on SQLAlchemy.

Every method takes the owner's id and only ever sees that owner's rows: another user's ids are
:class:`~streamchat.errors.NotFound`, exactly like ids that do not exist. Driver errors are
translated to :class:`~streamchat.errors.StoreError` inside the implementation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypedDict

from streamchat.chat import Conversation, Message, MessageStatus, Usage
from streamchat.files import StoredFile

__all__ = ["MessagePatch", "Progress", "ResponsePatch", "SearchHit", "Store", "StoredResponse"]


@dataclass(slots=True, frozen=True)
class Progress:
    """What one periodic save of an answer appends (issue 15 item 5): the text and reasoning
    that arrived since its previous save, and the id of the last event the text so far
    includes (a client that reloads shows the text and re-attaches after that event).

    ``seq`` numbers an answer's saves from 0; a save retried after a failure keeps its number
    and carries a longer text (written in place of the one that may have landed).

    ``reasoning_ms``: how long the model thought, once the text includes the token that ended
    the thinking (None before, and without reasoning); a read takes it with the text, so a
    reloaded page that re-attaches after the saved text still shows "Thought for N s"."""

    message_id: str
    content: str
    reasoning: str
    last_event_id: int
    seq: int = 0
    reasoning_ms: float | None = None


class MessagePatch(TypedDict, total=False):
    """The fields of an answer that a generation overwrites as it streams and when it ends."""

    content: str
    reasoning: str
    status: MessageStatus
    finish_reason: str | None
    usage: Usage | None
    error: dict[str, Any] | None
    ttft_ms: float | None
    total_ms: float | None
    last_event_id: int | None
    model: str | None
    reasoning_ms: float | None


@dataclass(slots=True)
class StoredResponse:
    """A response of the Responses API as stored (issue 12): ``request`` holds its input items,
    instructions and the fields its object repeats (``echo``); ``output`` its output items."""

    id: str
    owner_id: str
    model: str
    status: str  # queued | in_progress | completed | incomplete | failed | cancelled
    background: bool
    previous_response_id: str | None
    request: dict[str, Any]
    output: list[dict[str, Any]]
    created_at: datetime
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    incomplete_details: dict[str, Any] | None = None
    completed_at: datetime | None = None
    expires_at: datetime | None = None  # set when it ends: responses_ttl later


class ResponsePatch(TypedDict, total=False):
    """What the end of a response overwrites."""

    status: str
    output: list[dict[str, Any]]
    usage: dict[str, Any] | None
    error: dict[str, Any] | None
    incomplete_details: dict[str, Any] | None
    completed_at: datetime | None
    expires_at: datetime | None


@dataclass(slots=True, frozen=True)
class SearchHit:
    """One result of :meth:`Store.search` (issue 14): a message (``message_id``, ``role``, a
    ``snippet`` of its text) or, with ``message_id`` None, a conversation's title. ``marks``
    and ``title_marks`` are where the query's words are, ``[start, end)`` in code points;
    ``at`` is the message's creation or the conversation's last activity."""

    conversation_id: str
    title: str
    title_marks: list[tuple[int, int]]
    message_id: str | None
    role: str | None
    snippet: str
    marks: list[tuple[int, int]]
    at: datetime


class Store(Protocol):
    async def open(self) -> None:
        """Connect and bring the schema to the newest migration."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StoreError when the database cannot answer."""

    async def check_writable(self) -> None:
        """Raise StoreError unless a write could be committed now (cheap: writes nothing)."""

    @property
    def last_write_failure(self) -> tuple[float, str] | None:
        """``(time.monotonic(), error)`` of the newest write that failed, if any."""

    async def ensure_user(self, user_id: str, name: str) -> None: ...

    async def set_user_token(self, user_id: str, name: str, token_hash: str) -> None:
        """Create the user or replace their token; only the token's hash is stored."""

    async def user_for_token(self, token_hash: str) -> str | None: ...

    async def list_users(self) -> list[tuple[str, bool]]:
        """(id, has a token) of every user."""

    async def delete_user(self, user_id: str) -> None:
        """Delete a user and everything they own; NotFound if there is no such user."""

    async def create_session(self, id_hash: str, user_id: str, expires_at: datetime) -> None:
        """A new signed-in session of ``user_id`` (only the hash of its id is stored)."""

    async def user_for_session(self, id_hash: str) -> str | None:
        """The user of an unexpired session, else None."""

    async def end_session(self, id_hash: str) -> None:
        """Sign one session out (nothing happens for one that does not exist)."""

    async def end_sessions(self, user_id: str) -> int:
        """Sign every session of ``user_id`` out (its token changed); return how many."""

    async def create_conversation(self, conversation: Conversation) -> Conversation: ...

    async def get_conversation(self, owner_id: str, conversation_id: str) -> Conversation: ...

    async def list_conversations(
        self, owner_id: str, *, limit: int, offset: int
    ) -> list[Conversation]:
        """Newest activity first."""

    async def update_conversation(
        self, owner_id: str, conversation_id: str, fields: dict[str, Any]
    ) -> Conversation:
        """Set title, model, system_prompt and/or params; bumps updated_at."""

    async def delete_conversation(self, owner_id: str, conversation_id: str) -> None: ...

    async def set_generated_title(
        self, owner_id: str, conversation_id: str, expected: str, title: str
    ) -> bool:
        """Set the title its model wrote, only if the title is still ``expected`` (the
        automatic one): a rename meanwhile wins. ``updated_at`` is unchanged. True if set."""

    async def list_messages(self, owner_id: str, conversation_id: str) -> list[Message]:
        """Every message of the conversation (all branches of its tree), oldest first."""

    async def get_message(self, owner_id: str, message_id: str) -> Message: ...

    async def add_messages(
        self, messages: Sequence[Message], *, new: Conversation | None = None
    ) -> None:
        """Insert in one transaction, in order; bumps the conversation's updated_at and makes
        the last message inserted its current leaf. ``new`` is created first, in the same
        transaction."""

    async def update_message(self, message_id: str, patch: MessagePatch) -> None:
        """Overwrite the given fields of one message (used by the generation's end). The
        answer's saved parts are folded into its row in the same transaction: a patch's
        ``content`` / ``reasoning`` replace the text, without them the parts are appended."""

    async def save_progress(self, progress: Sequence[Progress]) -> None:
        """Append what arrived to several answers, in one transaction (the periodic saves of
        every running answer); answers without a row (deleted) are skipped. Reads show an
        answer's row text followed by its parts."""

    async def delete_messages(self, owner_id: str, message_ids: Sequence[str]) -> None:
        """All or none; a conversation whose current leaf goes shows the first one's parent."""

    async def set_current(self, owner_id: str, conversation_id: str, message_id: str) -> None:
        """Make ``message_id`` the conversation's current leaf; ``updated_at`` is unchanged."""

    async def recover_streaming(self, before_ids: Sequence[str] = ()) -> int:
        """Mark answers left ``streaming`` by a dead process as ``incomplete``, their saved
        parts folded into their text; return how many.

        Ids in ``before_ids`` are still running somewhere and are left alone."""

    # -- files (issue 13) ------------------------------------------------------------------

    async def add_file(self, file: StoredFile, data: bytes) -> None:
        """Store a new file and its bytes."""

    async def get_file(self, owner_id: str, file_id: str) -> StoredFile:
        """NotFound for another user's file, like for one that does not exist."""

    async def file_data(self, owner_id: str, file_id: str) -> tuple[StoredFile, bytes]: ...

    async def get_files(self, owner_id: str, file_ids: Sequence[str]) -> list[StoredFile]:
        """In the order asked; NotFound names the first id that is not the owner's."""

    async def delete_file(self, owner_id: str, file_id: str) -> None: ...

    async def file_usage(self, owner_id: str) -> tuple[int, int]:
        """(how many files, how many bytes) the owner keeps."""

    async def set_file_text(self, file_id: str, text: str, source: str) -> None:
        """Cache a document's extracted text and who extracted it."""

    async def add_messages_with_files(
        self,
        messages: Sequence[Message],
        attachments: Mapping[str, Sequence[str]],
        *,
        new: Conversation | None = None,
    ) -> None:
        """:meth:`add_messages`, and in the same transaction the files of each message id in
        ``attachments``, bound to its conversation."""

    async def release_files(self, owner_id: str, conversation_id: str) -> None:
        """Unbind the files of a conversation about to be deleted (they stay uploads)."""

    async def message_files(
        self, owner_id: str, conversation_id: str
    ) -> dict[str, list[StoredFile]]:
        """The files of each question of a conversation that has any, in order."""

    # -- search (issue 14) -----------------------------------------------------------------

    async def search(
        self, owner_id: str, query: str, *, limit: int, offset: int
    ) -> list[SearchHit]:
        """The owner's titles and messages (every branch; a streaming answer's text as saved)
        holding every word of ``query``: best match first, then recent."""

    # -- stored responses (issue 12) -------------------------------------------------------

    async def add_response(self, record: StoredResponse) -> None:
        """Store a new response (and delete the expired ones); one whose id is stored
        already is left as it is (a retry of the request that started it)."""

    async def get_response(self, owner_id: str, response_id: str) -> StoredResponse:
        """NotFound for another user's response, an expired one, or one that does not exist."""

    async def update_response(self, response_id: str, patch: ResponsePatch) -> None:
        """Overwrite the given fields (a response's end)."""

    async def delete_response(self, owner_id: str, response_id: str) -> None: ...
