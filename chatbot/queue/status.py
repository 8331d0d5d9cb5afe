"""The queue at a glance: per account, counts by state, next due, and what needs a person.

Read through a ``StatusStore``: a session's (``chatbot.queue.store_orm``) or, for ``chatbot
status`` in its own process, one without SQLAlchemy (``chatbot.queue.store_direct``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chatbot.db.states import PostState
from chatbot.queue.stores import as_store
from chatbot.queue.views import PostView, QueueStore
from chatbot.timeutil import format_duration

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

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
    next_due: PostView | None = None
    month_spend: float = 0.0


@dataclass
class QueueStatus:
    accounts: list[AccountStatus]
    attention: list[PostView]
    # Not approved and due within review.warn_before (or already due): approve or skip them.
    unapproved: list[PostView] = field(default_factory=list)
    unapproved_total: int = 0


UNAPPROVED_SHOWN = 50


def unapproved_soon(
    session: Session | QueueStore,
    now: datetime,
    horizon: timedelta,
    limit: int = UNAPPROVED_SHOWN,
) -> tuple[list[PostView], int]:
    """Posts still waiting for a person's approval that are due within ``horizon`` (or already
    due), earliest first, and how many there are in all."""
    return as_store(session).unapproved(now + horizon, limit)


def unapproved_hint(post: PostView, now: datetime) -> str:
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
    session: Session | QueueStore, now: datetime, horizon: timedelta = timedelta(hours=24)
) -> QueueStatus:
    store = as_store(session)
    accounts = {
        a.key: AccountStatus(a.key, a.platform, a.paused, a.paused_reason, a.rate_limited_until)
        for a in store.accounts()
    }
    for account_key, state, count in store.state_counts():
        accounts.setdefault(account_key, AccountStatus(account_key, "?")).counts[state] = count
    for status in accounts.values():
        status.next_due = store.next_due(status.key, PENDING_STATES)
        status.month_spend = store.month_spend(status.key, now)
    attention = store.in_states(ATTENTION_STATES)
    unapproved, total = store.unapproved(now + horizon, UNAPPROVED_SHOWN)
    return QueueStatus(list(accounts.values()), attention, unapproved, total)
