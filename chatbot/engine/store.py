"""The engine's reads and small writes around the cycle: what is due, what comes next,
approved posts taken on, unapproved chat posts skipped, expired leases, and the cheap summaries
the timer polls. Claims and outcomes are in ``claims``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, exists, func, select, update
from sqlalchemy.orm import Session, aliased

from chatbot.db.audit import audit
from chatbot.db.models import Account, Chat, Post, PostState
from chatbot.db.session import Database
from chatbot.kinds import CHAT_KINDS

SETTLED_ORIGINAL = (PostState.POSTED, PostState.FAILED, PostState.SKIPPED, PostState.CANCELLED)


@dataclass(frozen=True)
class Candidate:
    """A queued post that may be due, with what the dispatcher needs to decide."""

    post_id: int
    key: str
    account: str
    kind: str
    scheduled_at: datetime
    due_at: datetime | None  # None: waits on its original
    original_state: str | None
    estimated_cost: float
    chat: str | None = None


def _late_drafts(now: datetime, chat_window: timedelta) -> tuple[Any, ...]:
    return (
        Post.state == PostState.DRAFT,
        Post.depends_on_id.is_(None),
        Post.kind.in_(CHAT_KINDS),
        Post.scheduled_at < now - chat_window,
        _not_paused_chat(),
    )


def _orphans() -> Select[Any]:
    original = aliased(Post)
    return (
        select(Post)
        .join(original, Post.depends_on_id == original.id)
        .where(
            Post.state == PostState.DRAFT,
            original.state.in_((PostState.FAILED, PostState.SKIPPED, PostState.CANCELLED)),
        )
    )


def _expired(now: datetime) -> tuple[Any, ...]:
    return (Post.state == PostState.SENDING, Post.lease_until < now)


def housekeeping_due(db: Database, now: datetime, chat_window: timedelta) -> bool:
    """Whether ``promote_approved``, ``skip_unapproved`` or ``expire_leases`` has anything to
    do: one read, with their own conditions. Each is a write transaction, and on SQLite a
    write waits for its turn behind the send threads recording outcomes; in a burst the cycle
    runs dozens of times with nothing for them to do."""
    with db.read() as session:
        return bool(
            session.scalar(
                select(
                    exists().where(Post.state == PostState.APPROVED)
                    | exists().where(*_late_drafts(now, chat_window))
                    | exists(_orphans().with_only_columns(Post.id))
                    | exists().where(*_expired(now))
                )
            )
        )


def promote_approved(db: Database, now: datetime) -> int:
    """approved -> queued: the worker has taken it on (status shows the difference)."""
    with db.write() as session:
        result = session.execute(
            update(Post)
            .where(Post.state == PostState.APPROVED)
            .values(state=PostState.QUEUED, updated_at=now)
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _blocked_accounts(now: datetime) -> Select[Any]:
    """Accounts that cannot post now: paused by a person or rate limited."""
    return select(Account.key).where(
        Account.paused.is_(True)
        | (Account.rate_limited_until.is_not(None) & (Account.rate_limited_until > now))
    )


def _not_paused_chat() -> Any:
    """Posts outside any chat a host has paused (reposts of what was already posted go on)."""
    paused = select(Chat.key).where(Chat.live_state == "paused")
    return Post.chat_key.is_(None) | Post.chat_key.not_in(paused)


def candidates(db: Database, now: datetime, limit: int = 500) -> list[Candidate]:
    """Queued, not held posts that may be due now, oldest first, for accounts that can post.

    Only the rows it returns are read: originals and dependents each walk an index of their
    own in the order they are sent (``ix_posts_due_*``, migration 0010) and stop at
    ``limit``, so a cycle costs the same with ten posts due as with ten thousand (it sorted
    every due row, and scanned every queued post for dependents, before). Posts that depend
    on an original (reposts, a partner's own wording) come back when their original has an
    outcome: posted (due at its confirmed time plus the offset) or failed/skipped/cancelled
    (so they can be skipped). Originals of a paused chat are left alone until the host
    resumes it.
    """
    original = aliased(Post)
    ready = (
        (Post.state == PostState.QUEUED)
        & Post.held.is_(False)
        & Post.account_key.not_in(_blocked_accounts(now))
        & (Post.next_attempt_at.is_(None) | (Post.next_attempt_at <= now))
    )
    originals = (
        select(
            Post.id,
            Post.key,
            Post.account_key,
            Post.kind,
            Post.scheduled_at,
            Post.estimated_cost,
            Post.chat_key,
        )
        .where(ready, Post.depends_on_id.is_(None), Post.scheduled_at <= now, _not_paused_chat())
        .order_by(Post.scheduled_at, Post.seq, Post.id)
        .limit(limit)
    )
    reposts = (
        select(
            Post.id,
            Post.key,
            Post.account_key,
            Post.kind,
            Post.scheduled_at,
            Post.offset_seconds,
            Post.estimated_cost,
            original.state,
            original.posted_at,
        )
        .join(original, Post.depends_on_id == original.id)
        .where(ready, Post.depends_on_id.is_not(None), original.state.in_(SETTLED_ORIGINAL))
        .order_by(Post.scheduled_at, Post.id)
        .limit(limit)
    )
    out = []
    with db.read() as session:
        for pid, key, account, kind, scheduled, cost, chat in session.execute(originals):
            out.append(Candidate(pid, key, account, kind, scheduled, scheduled, None, cost, chat))
        for row in session.execute(reposts):
            pid, key, account, kind, scheduled, offset, cost, o_state, o_posted = row
            due = None
            if o_state == PostState.POSTED and o_posted is not None:
                due = o_posted + timedelta(seconds=offset or 0)
            out.append(Candidate(pid, key, account, kind, scheduled, due, o_state, cost))
    return out


def skip_unapproved(db: Database, now: datetime, chat_window: timedelta) -> list[Post]:
    """Chat posts still not approved once their lateness window has passed (an edit mid-chat
    voids an approval) can no longer go out: they are skipped with the reason, so the chat's
    "next" moves on and a person is told, instead of a draft waiting silently for ever. Drafts
    that follow an original which will never go out are skipped with it."""
    with db.write() as session:
        late = list(session.scalars(select(Post).where(*_late_drafts(now, chat_window))))
        for post in late:
            post.state = PostState.SKIPPED
            post.state_reason = (
                f"not approved by its time (due {post.scheduled_at:%Y-%m-%d %H:%M:%S}Z, "
                f"lateness window {int(chat_window.total_seconds())} s), so it was skipped"
            )
            post.updated_at = now
        orphans = list(session.scalars(_orphans()))
        for post in orphans:
            post.state = PostState.SKIPPED
            post.state_reason = "its original will not go out, so there is nothing to follow"
            post.updated_at = now
        return late


def next_due(db: Database, now: datetime) -> datetime | None:
    """The earliest future moment something may become due (for the timer): one statement
    (five scalar subqueries), run at the end of every cycle."""
    times = (
        select(func.min(Post.scheduled_at))
        .where(
            Post.state == PostState.QUEUED,
            Post.held.is_(False),
            Post.depends_on_id.is_(None),
            Post.scheduled_at > now,
            _not_paused_chat(),
        )
        .scalar_subquery(),
        select(func.min(Post.next_attempt_at))
        .where(
            Post.state.in_((PostState.QUEUED, PostState.UNKNOWN)),
            Post.held.is_(False),
            Post.next_attempt_at > now,
        )
        .scalar_subquery(),
        select(func.min(Account.rate_limited_until))
        .where(Account.rate_limited_until > now)
        .scalar_subquery(),
        select(func.min(Post.lease_until)).where(Post.state == PostState.SENDING).scalar_subquery(),
        select(func.min(Post.next_attempt_at))
        .where(Post.state == PostState.UNKNOWN, Post.held.is_(False))
        .scalar_subquery(),
    )
    with db.read() as session:
        row = session.execute(select(*times)).one()
    future = [max(t, now) for t in row if t is not None]
    return min(future) if future else None


def set_state(
    session: Session,
    post_id: int,
    now: datetime,
    state: PostState,
    reason: str | None,
    **values: object,
) -> None:
    session.execute(
        update(Post)
        .where(Post.id == post_id)
        .values(state=state, state_reason=reason, updated_at=now, **values)
    )


def expire_leases(db: Database, now: datetime) -> list[str]:
    """Posts left in ``sending`` by a worker that vanished: their outcome is unknown."""
    with db.write() as session:
        rows = list(session.scalars(select(Post).where(*_expired(now))))
        for post in rows:
            post.state = PostState.UNKNOWN
            post.state_reason = "the worker sending it stopped before recording the outcome"
            post.claim_token = None
            post.lease_until = None
            post.next_attempt_at = now
            post.updated_at = now
        return [p.key for p in rows]


def accounts(db: Database) -> dict[str, Account]:
    with db.read() as session:
        return {a.key: a for a in session.scalars(select(Account))}


def update_account(db: Database, key: str, **values: object) -> None:
    with db.write() as session:
        session.execute(update(Account).where(Account.key == key).values(**values))


def add_audit(
    db: Database, now: datetime, actor: str, action: str, target: str, **detail: object
) -> None:
    with db.write() as session:
        audit(session, now, actor, action, target, **detail)


def control_version(db: Database) -> int:
    """Sum of the chats' control versions: changes with every host control (polled often)."""
    with db.read() as session:
        return int(session.scalar(select(func.coalesce(func.sum(Chat.control_version), 0))) or 0)


def fingerprint(db: Database) -> tuple[object, ...]:
    """Cheap summary that changes whenever posts or accounts change (for the refresh timer)."""
    with db.read() as session:
        posts = session.execute(select(func.count(Post.id), func.max(Post.updated_at))).one()
        paused = session.scalar(select(func.count(Account.id)).where(Account.paused.is_(True)))
        return (*posts, paused)


def is_idle(db: Database) -> bool:
    """No post is still waiting to be sent: each is final, failed, a draft, held for a person,
    or waits on an account a person paused."""
    with db.read() as session:
        paused = select(Account.key).where(Account.paused.is_(True))
        waiting = session.scalar(
            select(func.count(Post.id)).where(
                Post.held.is_(False),
                Post.account_key.not_in(paused),
                Post.state.in_(
                    (PostState.APPROVED, PostState.QUEUED, PostState.SENDING, PostState.UNKNOWN)
                ),
            )
        )
        return not waiting
