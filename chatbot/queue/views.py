"""What the live controls and the queue overview read and change of a chat, a post and an
account: the models (``chatbot.db.models``) have these attributes, and so do the rows the short
commands read without SQLAlchemy (``chatbot.db.direct.Record``). One state machine works on
either."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol


class ChatView(Protocol):
    id: int
    key: str
    host: str
    timezone: str
    live_state: str
    removed: bool
    paused_at: datetime | None
    control_version: int


class PostView(Protocol):
    id: int
    key: str
    account_key: str
    platform: str
    kind: str
    chat_key: str | None
    number: int | None
    seq: int
    text: str
    state: str
    state_reason: str | None
    depends_on_id: int | None
    held: bool
    scheduled_at: datetime
    posted_at: datetime | None
    updated_at: datetime


class AccountView(Protocol):
    key: str
    platform: str
    paused: bool
    paused_reason: str | None
    rate_limited_until: datetime | None


class ChatStore(Protocol):
    """One transaction's access to the chats, for ``chatbot.queue.live``."""

    def find_chat(self, key: str) -> ChatView | None: ...

    def chat_keys(self) -> list[str]:
        """The keys of the chats that are applied and not removed."""
        ...

    def chat_posts(self, key: str) -> list[PostView]:
        """The chat's posts that are not cancelled, in script order (``seq``, then ``id``)."""
        ...

    def audit(self, now: datetime, actor: str, action: str, target: str, **detail: Any) -> None: ...

    def answer_counts(self, chat: str) -> dict[tuple[int, str], int]:
        """(question, platform) -> answers, question 0 for those not placed."""
        ...


class StatusStore(Protocol):
    """One transaction's access to the whole queue, for ``chatbot.queue.status``."""

    def accounts(self) -> list[AccountView]:
        """Every account, by key."""
        ...

    def state_counts(self) -> list[tuple[str, str, int]]:
        """(account, state, posts) for every pair that has posts."""
        ...

    def next_due(self, account: str, states: tuple[str, ...]) -> PostView | None:
        """The account's earliest post in ``states``."""
        ...

    def month_spend(self, account: str, now: datetime) -> float: ...

    def in_states(self, states: tuple[str, ...]) -> list[PostView]:
        """Every post in ``states``, earliest first."""
        ...

    def unapproved(self, until: datetime, limit: int) -> tuple[list[PostView], int]:
        """Drafts due by ``until``, earliest first (at most ``limit``), and how many in all."""
        ...


class QueueStore(ChatStore, StatusStore, Protocol):
    """Both: what ``App.queue`` hands the short commands."""
