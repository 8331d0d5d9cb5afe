"""The queue at a glance: per account, counts by state, next due, and what needs a person."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chatbot.db.models import Account, Post, PostState
from chatbot.queue.cost import month_spend

ATTENTION_STATES = (PostState.FAILED, PostState.UNKNOWN)
PENDING_STATES = (PostState.DRAFT, PostState.APPROVED, PostState.QUEUED, PostState.SENDING)


@dataclass
class AccountStatus:
    key: str
    platform: str
    paused: bool = False
    paused_reason: str | None = None
    rate_limited_until: datetime | None = None
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    next_due: Post | None = None
    month_spend: float = 0.0


@dataclass
class QueueStatus:
    accounts: list[AccountStatus]
    attention: list[Post]


def queue_status(session: Session, now: datetime) -> QueueStatus:
    accounts = {
        a.key: AccountStatus(a.key, a.platform, a.paused, a.paused_reason, a.rate_limited_until)
        for a in session.scalars(select(Account).order_by(Account.key))
    }
    for account_key, state, count in session.execute(
        select(Post.account_key, Post.state, func.count()).group_by(Post.account_key, Post.state)
    ):
        accounts.setdefault(account_key, AccountStatus(account_key, "?")).counts[state] = count
    for status in accounts.values():
        status.next_due = session.scalars(
            select(Post)
            .where(Post.account_key == status.key, Post.state.in_(PENDING_STATES))
            .order_by(Post.scheduled_at)
            .limit(1)
        ).first()
        status.month_spend = month_spend(session, status.key, now)
    attention = list(
        session.scalars(
            select(Post).where(Post.state.in_(ATTENTION_STATES)).order_by(Post.scheduled_at)
        )
    )
    return QueueStatus(list(accounts.values()), attention)
