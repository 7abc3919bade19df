"""The data model: roles, messages, conversations, and how messages group into turns.

A ``Message`` holds content exactly as the Messages API takes it: a string, or a list of
content blocks (text, image, document, tool_use, tool_result, thinking, ...) kept as given,
``cache_control`` included. Each message has a stable id, a sequence number within its
conversation, a UTC timestamp, and a small memo of its own token counts so that counting a
conversation never re-counts its whole history.

Messages are treated as immutable once added: build a new one instead of editing content.

Grouping helpers (``group_turns``, ``tool_exchanges``) are the one place that decides where
history may be cut: a turn starts at a *plain* user message (one without tool_result blocks)
and runs to the next one, so an assistant ``tool_use`` and the user ``tool_result`` that
answers it always fall in the same turn.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import uuid
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from convolab.blocks import content_text
from convolab.errors import InvalidConversation

DEFAULT_MODEL = "claude-sonnet-4-6"

Content = str | list[dict[str, Any]]
T = TypeVar("T")


class Role(StrEnum):
    """Who wrote a message. Compares equal to the plain strings ``"user"``/``"assistant"``."""

    USER = "user"
    ASSISTANT = "assistant"

    def __str__(self) -> str:
        return self.value


def new_id() -> str:
    """A new random id (UUID4, as text)."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_role(role: Role | str) -> Role:
    """``Role`` from a ``Role`` or the plain strings; anything else is an ``InvalidConversation``."""
    if isinstance(role, Role):
        return role
    try:
        return Role(role)
    except ValueError:
        raise InvalidConversation(
            f"invalid role {role!r}: the Messages API takes only 'user' and 'assistant' "
            "(put system instructions in system_prompt)"
        ) from None


def normalize_content(content: Any) -> Content:
    """Content as the API's JSON: a string, or a list of block dicts (copied, order kept).

    SDK block objects (``resp.content`` items) are turned into their dict form. Anything
    that is not a string or a list of blocks with a ``type`` raises ``InvalidConversation``.
    """
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping) and "type" in content:
        content = [content]
    if not isinstance(content, Sequence) or isinstance(content, bytes | bytearray):
        raise InvalidConversation(
            f"message content must be a string or a list of content blocks, got {type(content).__name__}"
        )
    blocks: list[dict[str, Any]] = []
    for i, block in enumerate(content):
        if hasattr(block, "model_dump"):  # an SDK type such as TextBlock or ToolUseBlock
            block = block.model_dump(mode="json", exclude_none=True)
        if not isinstance(block, Mapping) or not isinstance(block.get("type"), str):
            raise InvalidConversation(
                f"content block {i} must be a dict with a 'type' (e.g. {{'type': 'text', 'text': '...'}}), "
                f"got {block!r:.80}"
            )
        blocks.append(copy.deepcopy(dict(block)))
    return blocks


@dataclass(eq=False)
class Message:
    """One message of a conversation, as stored and as sent.

    ``seq`` is its position in the conversation (0-based, never reused); ``input_tokens``
    and ``output_tokens`` record the usage of the request that produced it, when known.
    ``rejected`` holds the API's reason when it refused the request carrying this (user)
    message for good (a 400): the message stays in the history and is never sent again.
    """

    role: Role
    content: Content
    id: str = field(default_factory=new_id)
    seq: int = 0
    created_at: datetime = field(default_factory=utcnow)
    input_tokens: int = 0
    output_tokens: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    rejected: str | None = None
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False, init=False, compare=False)

    def __post_init__(self) -> None:
        self.role = as_role(self.role)
        self.content = normalize_content(self.content)

    def to_api(self) -> dict[str, Any]:
        """The message as the API takes it: ``{"role": ..., "content": ...}`` (a fresh dict)."""
        content = self.content if isinstance(self.content, str) else [dict(b) for b in self.content]
        return {"role": self.role.value, "content": content}

    @property
    def text(self) -> str:
        """The message's text: the string, or its text blocks joined by blank lines."""
        return content_text(self.content)

    @property
    def content_hash(self) -> str:
        """SHA-256 of role and content in canonical JSON: equal content, equal hash."""
        return self.memo("content_hash", lambda: content_hash(self.role.value, self.content))

    def memo(self, key: Any, compute: Callable[[], T]) -> T:
        """Return the value memoized under ``key``, computing it once (used for token counts)."""
        try:
            return self._memo[key]
        except KeyError:
            value = self._memo[key] = compute()
            return value

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return (self.id, self.role, self.content, self.seq) == (other.id, other.role, other.content, other.seq)

    __hash__ = None  # type: ignore[assignment]


MessageLike = Message | Mapping[str, Any]
MESSAGE_FIELDS = frozenset({"id", "seq", "created_at", "input_tokens", "output_tokens", "metadata", "rejected"})


def role_of(message: MessageLike) -> str:
    return message.role.value if isinstance(message, Message) else str(message["role"])


def content_of(message: MessageLike) -> Content:
    return message.content if isinstance(message, Message) else message["content"]


def blocks_of(message: MessageLike) -> list[dict[str, Any]]:
    """The message's content as a block list (a string becomes one text block)."""
    content = content_of(message)
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content)


def content_hash(role: str, content: Content) -> str:
    raw = json.dumps([role, content], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def tool_use_ids(message: MessageLike) -> list[str]:
    """Ids of the ``tool_use`` blocks in an assistant message (empty for others)."""
    if role_of(message) != "assistant":
        return []
    return [b["id"] for b in blocks_of(message) if b.get("type") == "tool_use" and "id" in b]


def tool_result_ids(message: MessageLike) -> list[str]:
    """Ids answered by the ``tool_result`` blocks in a user message (empty for others)."""
    if role_of(message) != "user":
        return []
    return [b["tool_use_id"] for b in blocks_of(message) if b.get("type") == "tool_result" and "tool_use_id" in b]


def is_plain_user(message: MessageLike) -> bool:
    """A user message that starts a turn: one that carries no ``tool_result`` block."""
    return role_of(message) == "user" and not tool_result_ids(message)


def unanswered(messages: Sequence[Message]) -> list[Message]:
    """The user messages at the end of ``messages`` that no reply follows yet."""
    k = len(messages)
    while k and messages[k - 1].role == "user":
        k -= 1
    return list(messages[k:])


@dataclass(frozen=True)
class Turn:
    """Messages ``start`` (inclusive) to ``end`` (exclusive) of a sequence: one exchange.

    A turn starts at a plain user message and runs up to the next one, so it holds the
    assistant's replies and every tool exchange in between. Turn 0 may start with
    assistant messages when the sequence does not begin with a user.
    """

    index: int
    start: int
    end: int
    messages: tuple[MessageLike, ...]

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.messages if isinstance(m, Message)]

    def __len__(self) -> int:
        return self.end - self.start


def group_turns(messages: Sequence[MessageLike]) -> list[Turn]:
    """Split ``messages`` into turns; cutting between turns never splits a tool pair."""
    starts = [i for i, m in enumerate(messages) if is_plain_user(m)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    if not messages:
        return []
    bounds = [*starts, len(messages)]
    return [
        Turn(index=k, start=a, end=b, messages=tuple(messages[a:b]))
        for k, (a, b) in enumerate(itertools.pairwise(bounds))
        if b > a
    ]


@dataclass(frozen=True)
class ToolExchange:
    """An assistant ``tool_use`` (at ``call_index``) and the user message answering it."""

    tool_use_id: str
    name: str
    call_index: int
    result_index: int | None  # None while unanswered


def tool_exchanges(messages: Sequence[MessageLike]) -> list[ToolExchange]:
    """Every tool call in ``messages`` with the index of the message holding its result
    (the first result after the call; an id used again later is matched again)."""
    results: dict[str, list[int]] = {}
    for i, m in enumerate(messages):
        for tid in tool_result_ids(m):
            results.setdefault(tid, []).append(i)
    out = []
    for i, m in enumerate(messages):
        if role_of(m) != "assistant":
            continue
        for b in blocks_of(m):
            if b.get("type") == "tool_use" and "id" in b:
                r = next((k for k in results.get(b["id"], ()) if k > i), None)
                out.append(ToolExchange(b["id"], b.get("name", ""), i, r))
    return out


@dataclass(eq=False)
class Conversation:
    """A conversation: system prompt, model, optional tools, and its messages in order.

    >>> conv = Conversation(system_prompt="You are terse.")
    >>> conv.add("user", "Hi, I'm Ada.").seq
    0
    >>> conv.to_api_messages()
    [{'role': 'user', 'content': "Hi, I'm Ada."}]
    """

    session_id: str = field(default_factory=new_id)
    system_prompt: str | list[dict[str, Any]] = ""
    model: str = DEFAULT_MODEL
    tools: list[dict[str, Any]] | None = None
    messages: list[Message] = field(default_factory=list)
    created_at: datetime = field(default_factory=utcnow)
    last_updated: datetime = field(default_factory=utcnow)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_id: dict[str, Message] = {}
        last_seq = -1
        for m in self.messages:
            if m.id in self._by_id:
                raise InvalidConversation(f"message id {m.id!r} appears twice in conversation {self.session_id!r}")
            if m.seq <= last_seq:
                raise InvalidConversation(f"message {m.id!r} has seq {m.seq} after seq {last_seq}: "
                                          "messages must be in increasing seq order")
            self._by_id[m.id] = m
            last_seq = m.seq

    def add(self, role: Role | str, content: Any, **kwargs: Any) -> Message:
        """Append a message and return it; ``kwargs`` go to ``Message`` (id, metadata, tokens)."""
        seq = self.messages[-1].seq + 1 if self.messages else 0
        kwargs.setdefault("seq", seq)
        if kwargs["seq"] < seq:
            raise InvalidConversation(f"seq {kwargs['seq']} is not after the last message's seq {seq - 1}")
        msg = Message(role=as_role(role), content=content, **kwargs)
        if msg.id in self._by_id:
            raise InvalidConversation(f"message id {msg.id!r} is already in conversation {self.session_id!r}")
        self.messages.append(msg)
        self._by_id[msg.id] = msg
        self.last_updated = msg.created_at
        return msg

    def extend(self, messages: Iterable[MessageLike]) -> list[Message]:
        """Append several messages (``Message`` objects or API-style dicts)."""
        added = []
        for m in messages:
            if isinstance(m, Message):
                added.append(self.add(m.role, m.content, id=m.id, created_at=m.created_at,
                                      input_tokens=m.input_tokens, output_tokens=m.output_tokens,
                                      metadata=dict(m.metadata), rejected=m.rejected))
            else:
                extra = {k: v for k, v in m.items() if k not in ("role", "content")}
                unknown = sorted(set(extra) - MESSAGE_FIELDS)
                if unknown:
                    raise InvalidConversation(
                        f"unknown message field(s) {unknown}: a message dict takes role, content and "
                        f"optionally {sorted(MESSAGE_FIELDS)}")
                added.append(self.add(m["role"], m["content"], **extra))
        return added

    def discard_last(self, message: Message) -> None:
        """Remove ``message`` if it is the last one: for a session taking back a message it
        never stored (its request was refused before sending). Anything else raises
        ``InvalidConversation``: history is append-only."""
        if not self.messages or self.messages[-1] is not message:
            raise InvalidConversation(f"message {message.id!r} is not the last message; only an unsent last "
                                      "message can be discarded")
        self.messages.pop()
        del self._by_id[message.id]

    def get(self, message_id: str) -> Message:
        try:
            return self._by_id[message_id]
        except KeyError:
            from convolab.errors import NotFound

            raise NotFound("message", message_id, hint=f"It is not in conversation {self.session_id!r}.") from None

    def index_of(self, message_id: str) -> int:
        """Position of a message in ``messages`` (``NotFound`` if it is not there)."""
        m = self.get(message_id)
        if m.seq < len(self.messages) and self.messages[m.seq] is m:  # seq == position, the usual case
            return m.seq
        return bisect_left([x.seq for x in self.messages], m.seq)

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self):
        return iter(self.messages)

    def to_api_messages(self) -> list[dict[str, Any]]:
        """All messages as API dicts, as stored (repair happens when a request is built)."""
        return [m.to_api() for m in self.messages]

    def turns(self) -> list[Turn]:
        return group_turns(self.messages)

    def tool_exchanges(self) -> list[ToolExchange]:
        return tool_exchanges(self.messages)
