"""The queue at a glance: per account, counts by state, next due, and what needs a person."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chatbot.db.models import Account, Post, PostState
from chatbot.queue.cost import month_spend
from chatbot.timeutil import format_duration

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
    # Not approved and due within review.warn_before (or already due): approve or skip them.
    unapproved: list[Post] = field(default_factory=list)
    unapproved_total: int = 0


UNAPPROVED_SHOWN = 50


def unapproved_soon(
    session: Session, now: datetime, horizon: timedelta, limit: int = UNAPPROVED_SHOWN
) -> tuple[list[Post], int]:
    """Posts still waiting for a person's approval that are due within ``horizon`` (or already
    due), earliest first, and how many there are in all."""
    where = (Post.state == PostState.DRAFT, Post.scheduled_at <= now + horizon)
    total = session.scalar(select(func.count(Post.id)).where(*where)) or 0
    posts = list(
        session.scalars(select(Post).where(*where).order_by(Post.scheduled_at).limit(limit))
    )
    return posts, int(total)


def unapproved_hint(post: Post, now: datetime) -> str:
    """When the post is due and what fixes it, for status and the web app."""
    delta = post.scheduled_at - now
    # whole seconds: "due 3h52m40s ago", not "...40s395ms ago"
    delta = timedelta(seconds=round(delta.total_seconds()))
    when = (
        f"in {format_duration(delta)}"
        if delta >= timedelta(0)
        else (f"{format_duration(-delta)} ago")
    )
    if post.chat_key and post.number is not None:
        fix = (
            f"approve it (chatbot approve {post.key} --by NAME) or skip it "
            f"(chatbot chat skip {post.chat_key} --question {post.number})"
        )
    elif post.chat_key and post.depends_on_id is None:
        fix = f"approve it (chatbot approve {post.key} --by NAME) or skip it"
    else:
        fix = f"approve it (chatbot approve {post.key} --by NAME) or remove it from the content"
    return f"{post.key} ({post.account_key}) is not approved and due {when}: {fix}"


def queue_status(
    session: Session, now: datetime, horizon: timedelta = timedelta(hours=24)
) -> QueueStatus:
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
    unapproved, total = unapproved_soon(session, now, horizon)
    return QueueStatus(list(accounts.values()), attention, unapproved, total)
