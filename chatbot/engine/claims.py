"""Claiming posts for sending, and recording what happened, each in one transaction.

Claiming moves a post to ``sending`` with a token and a lease and is committed before any
network call. SQLite: the write transaction starts with BEGIN IMMEDIATE and the claim is a
conditional UPDATE whose row count says who won. PostgreSQL: candidates are locked with
``FOR UPDATE SKIP LOCKED`` so concurrent workers take different posts instead of queueing.

The claim reads, in the same transaction, everything sending needs (the text, card and image,
the original's remote id for a repost, the previous post's for a thread reply, whether anything
waits on this post), so a send never reads the database again; its outcome (the post, and the
account and the audit log when the platform paused or rate-limited it) is one transaction too.
"""

from __future__ import annotations

import secrets
import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, Update, and_, bindparam, exists, select, update
from sqlalchemy.orm import aliased

from chatbot.db.audit import audit
from chatbot.db.models import Account, Post, PostState
from chatbot.db.session import Database


@dataclass(frozen=True)
class Claim:
    post_id: int
    token: str


@dataclass(frozen=True)
class Sending:
    """A claimed post with everything its send needs."""

    claim: Claim
    key: str
    account: str
    platform: str
    kind: str
    text: str
    scheduled_at: datetime
    attempts: int
    card: str | None = None
    card_fields: dict[str, str] = field(default_factory=dict)
    alt: str | None = None
    image: str | None = None
    original_remote_id: str | None = None  # a repost's original, or an action's answer
    reply_to: str | None = None  # a thread's previous post
    has_dependents: bool = False  # a repost or a partner's words wait on this one


@lru_cache(maxsize=1)
def _claimed_rows() -> Select[Any]:
    """The claimed posts with what their sends need: the original's remote id (a repost), the
    previous chat post's (a thread reply), and whether anything waits on the post. Built once:
    building its aliased subqueries took a quarter of a busy worker's time."""
    original = aliased(Post)
    previous = aliased(Post)
    follower = aliased(Post)
    reply_to = (
        select(previous.remote_id)
        .where(
            previous.chat_key == Post.chat_key,
            previous.account_key == Post.account_key,
            previous.depends_on_id.is_(None),
            previous.seq < Post.seq,
            previous.state == PostState.POSTED,
        )
        .order_by(previous.seq.desc())
        .limit(1)
        .correlate(Post)
        .scalar_subquery()
    )
    followed = exists().where(follower.depends_on_id == Post.id)
    return (
        select(Post, original.remote_id, reply_to, followed)
        .outerjoin(original, Post.depends_on_id == original.id)
        .where(Post.id.in_(bindparam("won", expanding=True)))
    )


# The posts table itself: claims and outcomes run on it, not through the ORM (see
# ``_outcome_update``).
_POSTS = cast(Table, Post.__table__)


def _claimable() -> ColumnElement[bool]:
    """A post that may be claimed: queued, and not held."""
    return and_(_POSTS.c.state == PostState.QUEUED, _POSTS.c.held.is_(False))


@lru_cache(maxsize=1)
def _claim_update() -> Update:
    """Claim the posts of ``ids`` still claimable, returning the ids won; run on the table,
    built once (see ``_outcome_update``)."""
    return (
        update(_POSTS)
        .where(_POSTS.c.id.in_(bindparam("ids", expanding=True)), _claimable())
        .values(
            state=PostState.SENDING,
            claim_token=bindparam("token"),
            lease_until=bindparam("lease"),
            sent_at=bindparam("now"),
            attempts=_POSTS.c.attempts + 1,
            updated_at=bindparam("now"),
        )
        .returning(_POSTS.c.id)
    )


def claim_many(db: Database, post_ids: list[int], now: datetime, lease: timedelta) -> list[Sending]:
    """Take posts for sending in one transaction; returns the ones this worker won, in order."""
    if not post_ids:
        return []
    token = secrets.token_hex(16)
    with db.write() as session:
        ids = post_ids
        if not db.is_sqlite:
            ids = list(
                session.scalars(
                    select(Post.id)
                    .where(Post.id.in_(post_ids), _claimable())
                    .with_for_update(skip_locked=True)
                )
            )
            if not ids:
                return []
        claimed = session.connection().execute(
            _claim_update(), {"ids": ids, "token": token, "now": now, "lease": now + lease}
        )
        won = set(claimed.scalars())
        if not won:
            return []
        rows = session.execute(_claimed_rows(), {"won": sorted(won)})
        found = {}
        for post, original_remote, previous_remote, has_followers in rows:
            found[post.id] = Sending(
                Claim(post.id, token),
                post.key,
                post.account_key,
                post.platform,
                post.kind,
                post.text,
                post.scheduled_at,
                post.attempts,
                post.card,
                dict(post.card_fields or {}),
                post.alt,
                post.image,
                # A host's action on an answer names its target itself.
                post.target_remote_id or original_remote,
                previous_remote if post.reply_to_previous and post.chat_key else None,
                post.depends_on_id is None and bool(has_followers),
            )
    return [found[pid] for pid in post_ids if pid in found]


@lru_cache(maxsize=32)
def _outcome_update(columns: tuple[str, ...]) -> Update:
    """The UPDATE that records an outcome setting these columns, if the claim is still ours:
    built once per set of columns and run on the table, not through the ORM. Building it for
    every post, and the ORM's bulk-update bookkeeping for objects a fresh session never holds,
    were a fifth of a busy worker's time."""
    return (
        update(_POSTS)
        .where(
            _POSTS.c.id == bindparam("claimed_id"),
            _POSTS.c.claim_token == bindparam("claimed_token"),
        )
        .values({name: bindparam(f"new_{name}") for name in columns})
    )


@dataclass
class _Outcome:
    claim: Claim
    now: datetime
    values: dict[str, Any]
    account: tuple[str, dict[str, Any]] | None
    audit_entry: tuple[str, str, str, dict[str, Any]] | None
    done: threading.Event = field(default_factory=threading.Event)
    recorded: bool = False
    error: BaseException | None = None


class _GroupCommit:
    """Outcomes recorded together when they arrive together (group commit).

    In a burst the send threads finish posts faster than one transaction each can be
    committed: SQLite takes one writer at a time, and PostgreSQL waits for the log to reach
    the disk at every commit. So the thread that finds no transaction under way writes every
    outcome that is waiting, its own and those that arrived meanwhile, in one transaction; the
    others wait for theirs. Each outcome is the same statements as on its own, so what is
    recorded is the same; only the commits are shared. If the shared transaction fails, each
    outcome is tried again on its own, so one bad outcome fails only its own post."""

    def __init__(self, db: Database):
        self.db = db
        self._lock = threading.Lock()
        self._pending: list[_Outcome] = []
        self._writing = False

    def record(self, outcome: _Outcome) -> bool:
        with self._lock:
            self._pending.append(outcome)
            lead = not self._writing
            self._writing = True
        if lead:
            self._write_pending()
        else:
            outcome.done.wait()
        if outcome.error is not None:
            raise outcome.error
        return outcome.recorded

    def _write_pending(self) -> None:
        while True:
            with self._lock:
                batch, self._pending = self._pending, []
                if not batch:
                    self._writing = False
                    return
            try:
                self._write(batch)
            except BaseException:
                for outcome in batch:  # each on its own: only a bad one fails
                    try:
                        self._write([outcome])
                    except BaseException as exc:
                        outcome.error = exc
            finally:
                for outcome in batch:
                    outcome.done.set()

    def _write(self, batch: list[_Outcome]) -> None:
        with self.db.write() as session:
            connection = session.connection()
            for outcome in batch:
                claim = outcome.claim
                params = {f"new_{name}": value for name, value in outcome.values.items()}
                result = connection.execute(
                    _outcome_update(tuple(outcome.values)),
                    {"claimed_id": claim.post_id, "claimed_token": claim.token, **params},
                )
                outcome.recorded = result.rowcount == 1
                if outcome.account is not None:
                    key, values = outcome.account
                    session.execute(update(Account).where(Account.key == key).values(**values))
                if outcome.audit_entry is not None:
                    actor, action, target, detail = outcome.audit_entry
                    audit(session, outcome.now, actor, action, target, **detail)


_GROUPS: weakref.WeakKeyDictionary[Database, _GroupCommit] = weakref.WeakKeyDictionary()
_GROUPS_LOCK = threading.Lock()


def _group_of(db: Database) -> _GroupCommit:
    with _GROUPS_LOCK:
        group = _GROUPS.get(db)
        if group is None:
            group = _GROUPS[db] = _GroupCommit(db)
        return group


def finish(
    db: Database,
    claim: Claim,
    now: datetime,
    state: PostState,
    reason: str | None = None,
    *,
    account: tuple[str, dict[str, Any]] | None = None,
    audit_entry: tuple[str, str, str, dict[str, Any]] | None = None,
    values: dict[str, object] | None = None,
    **more: object,
) -> bool:
    """Record an outcome if the claim is still ours (a lease may have expired meanwhile), with
    what it does to the account (``(key, values)``) and its audit entry (``(actor, action,
    target, detail)``), in one transaction (shared with outcomes recorded at the same moment:
    ``_GroupCommit``). ``values``/``more``: other columns of the post (``attempts`` given back
    as if never claimed when nothing was sent). Returns whether it was recorded."""
    columns: dict[str, Any] = {
        "state": state,
        "state_reason": reason,
        "claim_token": None,
        "lease_until": None,
        "updated_at": now,
        **(values or {}),
        **more,
    }
    return _group_of(db).record(_Outcome(claim, now, columns, account, audit_entry))


def release_claims(db: Database, claims: list[Claim], now: datetime) -> int:
    """Give back claims that were never sent (clean shutdown)."""
    if not claims:
        return 0
    with db.write() as session:
        result = session.execute(
            update(Post)
            .where(
                Post.id.in_([c.post_id for c in claims]),
                Post.claim_token.in_({c.token for c in claims}),
                Post.state == PostState.SENDING,
            )
            .values(
                state=PostState.QUEUED,
                claim_token=None,
                lease_until=None,
                sent_at=None,
                attempts=Post.attempts - 1,
                updated_at=now,
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)
