"""The live controls' and the overview's store over a SQLAlchemy session: what the worker, the
web app and every command but the short ones in their own process use (those use
``chatbot.queue.store_direct``, which a test keeps in step with this one)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chatbot.db.audit import audit
from chatbot.db.models import Account, AnswerCount, Chat, Post, PostState
from chatbot.queue.cost import month_spend
from chatbot.queue.views import AccountView, ChatView, PostView


class OrmStore:
    """``ChatStore`` and ``StatusStore`` over one session (its transaction)."""

    def __init__(self, session: Session):
        self.session = session

    # -- ChatStore ---------------------------------------------------------------------------

    def find_chat(self, key: str) -> ChatView | None:
        return self.session.scalars(select(Chat).where(Chat.key == key)).first()

    def chat_keys(self) -> list[str]:
        return list(self.session.scalars(select(Chat.key).where(Chat.removed.is_(False))))

    def chat_posts(self, key: str) -> list[PostView]:
        return list(
            self.session.scalars(
                select(Post)
                .where(Post.chat_key == key, Post.state != PostState.CANCELLED)
                .order_by(Post.seq, Post.id)
            )
        )

    def audit(self, now: datetime, actor: str, action: str, target: str, **detail: Any) -> None:
        audit(self.session, now, actor, action, target, **detail)

    def answer_counts(self, chat: str) -> dict[tuple[int, str], int]:
        rows = self.session.execute(
            select(AnswerCount.question, AnswerCount.platform, AnswerCount.answers).where(
                AnswerCount.chat_key == chat
            )
        )
        return {(q, p): n for q, p, n in rows}

    # -- StatusStore -------------------------------------------------------------------------

    def accounts(self) -> list[AccountView]:
        return list(self.session.scalars(select(Account).order_by(Account.key)))

    def state_counts(self) -> list[tuple[str, str, int]]:
        rows = self.session.execute(
            select(Post.account_key, Post.state, func.count()).group_by(
                Post.account_key, Post.state
            )
        )
        return [(account, state, count) for account, state, count in rows]

    def next_due(self, account: str, states: tuple[str, ...]) -> PostView | None:
        return self.session.scalars(
            select(Post)
            .where(Post.account_key == account, Post.state.in_(states))
            .order_by(Post.scheduled_at, Post.id)
            .limit(1)
        ).first()

    def month_spend(self, account: str, now: datetime) -> float:
        return month_spend(self.session, account, now)

    def in_states(self, states: tuple[str, ...]) -> list[PostView]:
        return list(
            self.session.scalars(
                select(Post).where(Post.state.in_(states)).order_by(Post.scheduled_at, Post.id)
            )
        )

    def unapproved(self, until: datetime, limit: int) -> tuple[list[PostView], int]:
        where = (Post.state == PostState.DRAFT, Post.scheduled_at <= until)
        total = self.session.scalar(select(func.count(Post.id)).where(*where)) or 0
        posts = self.session.scalars(
            select(Post).where(*where).order_by(Post.scheduled_at, Post.id).limit(limit)
        )
        return list(posts), int(total)
