"""A conversation's messages as a tree: paths, branches and versions. Pure, no I/O.

Each message names its parent (a question's parent is an answer, an answer's its question, a
first question has none). Messages with the same parent are versions of one another
(regenerate and edit add one), ordered by creation. What the owner looks at is one path from a
root down to the conversation's current leaf.
"""

from __future__ import annotations

from collections.abc import Sequence

from streamchat.chat import Message

__all__ = ["Tree"]


class Tree:
    """The messages of one conversation, oldest first, with their parent links."""

    def __init__(self, messages: Sequence[Message]) -> None:
        self.messages = list(messages)
        self.by_id = {m.id: m for m in self.messages}
        self._children: dict[str | None, list[Message]] = {}
        for message in self.messages:
            self._children.setdefault(message.parent_id, []).append(message)

    def get(self, message_id: str | None) -> Message | None:
        return None if message_id is None else self.by_id.get(message_id)

    def path(self, message_id: str | None) -> list[Message]:
        """From a root down to ``message_id`` inclusive; [] for None or an unknown id."""
        path: list[Message] = []
        seen: set[str] = set()
        message = self.get(message_id)
        while message is not None and message.id not in seen:
            seen.add(message.id)
            path.append(message)
            message = self.get(message.parent_id)
        path.reverse()
        return path

    def branch(self, message_id: str | None) -> list[Message]:
        """``message_id``'s path, continued through the most recent child at each step."""
        path = self.path(message_id)
        seen = {m.id for m in path}
        while path:
            children = self._children.get(path[-1].id)
            if not children or children[-1].id in seen:
                break
            path.append(children[-1])
            seen.add(children[-1].id)
        return path

    def current_path(self, current_id: str | None) -> list[Message]:
        """What the owner sees: the branch of the current leaf, else of the newest message."""
        if current_id in self.by_id:
            return self.branch(current_id)
        return self.branch(self.messages[-1].id) if self.messages else []

    def sibling_ids(self, message: Message) -> list[str]:
        """The versions of ``message`` (same parent), oldest first, itself included."""
        return [m.id for m in self._children.get(message.parent_id, [message])]

    def streaming(self) -> list[Message]:
        """Answers whose row says they are still being written."""
        return [m for m in self.messages if m.status == "streaming"]
