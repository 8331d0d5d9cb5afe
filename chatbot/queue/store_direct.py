"""The live controls' and the overview's store over a plain DB-API connection, without
SQLAlchemy: for the short commands run in their own process (``chatbot.db.direct`` says why).

Each query is the one ``chatbot.queue.store_orm`` makes through the ORM, written out; a test
runs the same controls and overviews through both on copies of one queue and compares every
row and every message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chatbot.db.direct import Connection
from chatbot.db.states import SPEND_STATES, PostState
from chatbot.queue.views import AccountView, ChatView, PostView
from chatbot.timeutil import month_start


def _marks(values: tuple[Any, ...]) -> str:
    return ", ".join("?" for _ in values)


class DirectStore:
    """``ChatStore`` and ``StatusStore`` over one ``DirectDatabase`` transaction."""

    def __init__(self, connection: Connection):
        self.connection = connection

    # -- ChatStore ---------------------------------------------------------------------------

    def find_chat(self, key: str) -> ChatView | None:
        rows = self.connection.records("chats", "SELECT * FROM chats WHERE key = ?", (key,))
        return rows[0] if rows else None

    def chat_keys(self) -> list[str]:
        rows = self.connection.rows("SELECT key FROM chats WHERE removed = ?", (False,))
        return [key for (key,) in rows]

    def chat_posts(self, key: str) -> list[PostView]:
        return self.connection.records(
            "posts",
            "SELECT * FROM posts WHERE chat_key = ? AND state != ? ORDER BY seq, id",
            (key, str(PostState.CANCELLED)),
        )

    def audit(self, now: datetime, actor: str, action: str, target: str, **detail: Any) -> None:
        self.connection.insert(
            "audit_log", at=now, actor=actor, action=action, target=target, detail=detail
        )

    def answer_counts(self, chat: str) -> dict[tuple[int, str], int]:
        rows = self.connection.rows(
            "SELECT question, platform, answers FROM answer_counts WHERE chat_key = ?", (chat,)
        )
        return {(q, p): n for q, p, n in rows}

    # -- StatusStore -------------------------------------------------------------------------

    def accounts(self) -> list[AccountView]:
        return self.connection.records("accounts", "SELECT * FROM accounts ORDER BY key")

    def state_counts(self) -> list[tuple[str, str, int]]:
        rows = self.connection.rows(
            "SELECT account_key, state, count(*) FROM posts GROUP BY account_key, state"
        )
        return [(account, state, count) for account, state, count in rows]

    def next_due(self, account: str, states: tuple[str, ...]) -> PostView | None:
        rows = self.connection.records(
            "posts",
            f"SELECT * FROM posts WHERE account_key = ? AND state IN ({_marks(states)}) "
            "ORDER BY scheduled_at, id LIMIT 1",
            (account, *map(str, states)),
        )
        return rows[0] if rows else None

    def month_spend(self, account: str, now: datetime) -> float:
        """As ``chatbot.queue.cost.month_spend``: this calendar month (UTC), by sent time."""
        ((spend,),) = self.connection.rows(
            "SELECT coalesce(sum(estimated_cost), 0.0) FROM posts WHERE account_key = ? "
            f"AND state IN ({_marks(SPEND_STATES)}) AND sent_at >= ?",
            (account, *map(str, SPEND_STATES), self.connection.time(month_start(now))),
        )
        return float(spend or 0.0)

    def in_states(self, states: tuple[str, ...]) -> list[PostView]:
        return self.connection.records(
            "posts",
            f"SELECT * FROM posts WHERE state IN ({_marks(states)}) ORDER BY scheduled_at, id",
            tuple(map(str, states)),
        )

    def unapproved(self, until: datetime, limit: int) -> tuple[list[PostView], int]:
        where = "state = ? AND scheduled_at <= ?"
        params = (str(PostState.DRAFT), self.connection.time(until))
        ((total,),) = self.connection.rows(f"SELECT count(id) FROM posts WHERE {where}", params)
        posts = self.connection.records(
            "posts",
            f"SELECT * FROM posts WHERE {where} ORDER BY scheduled_at, id LIMIT ?",
            (*params, limit),
        )
        return posts, int(total)
