"""The answers tables: what is followed now, answers written once each, counts, the purge.

Every function works in the caller's transaction (a ``Session``), except where it says so.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chatbot.answers.grouping import Question, place
from chatbot.db.models import Answer, AnswerCount, AnswerSource, Chat, Post, PostState
from chatbot.kinds import CHAT_KINDS
from chatbot.publishers.base import FoundPost
from chatbot.queue.store_orm import OrmStore
from chatbot.settings import Settings

SLACK = timedelta(milliseconds=200)


@dataclass
class Followed:
    """One chat as the follower sees it: its hosts by platform, its window, its questions."""

    key: str
    hashtag: str
    hosts: dict[str, str]  # platform -> host account
    starts: datetime
    ends: datetime  # the follow window closes (the outro's time plus ``after``)
    questions: list[Question] = field(default_factory=list)
    read_x: bool = False
    x_max_reads: int = 300
    timezone: str = "UTC"
    # platform -> (remote id, posted at) of the chat's first post there: reading starts after it
    first: dict[str, tuple[str, datetime]] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        return self.hashtag.lstrip("#")

    def open_at(self, now: datetime) -> bool:
        return self.starts <= now < self.ends

    def posted_questions(self, platform: str) -> list[Question]:
        return [q for q in self.questions if q.platform == platform and q.remote_id]


def chats(session: Session, settings: Settings, keys: list[str] | None = None) -> list[Followed]:
    """Every applied chat (or those in ``keys``) with what following it needs, in two queries."""
    query = select(Chat).where(Chat.removed.is_(False))
    if keys is not None:
        query = query.where(Chat.key.in_(keys))
    rows = {c.key: c for c in session.scalars(query)}
    if not rows:
        return []
    posts = session.execute(
        select(
            Post.chat_key,
            Post.kind,
            Post.number,
            Post.platform,
            Post.account_key,
            Post.scheduled_at,
            Post.posted_at,
            Post.remote_id,
            Post.state,
        ).where(
            Post.chat_key.in_(list(rows)),
            Post.kind.in_(CHAT_KINDS),
            Post.depends_on_id.is_(None),
            Post.state != PostState.CANCELLED,
        )
    )
    by_chat: dict[str, list[Any]] = defaultdict(list)
    for post in posts:
        by_chat[post.chat_key].append(post)
    out = []
    for key, chat in rows.items():
        mine = by_chat.get(key)
        if not mine:
            continue
        options = chat.follow or {}
        after = (
            timedelta(seconds=options["after"]) if options.get("after") else settings.answers.after
        )
        ends = max(p.posted_at or p.scheduled_at for p in mine) + after
        followed = Followed(
            key,
            chat.hashtag,
            {p.platform: p.account_key for p in mine},
            min(p.scheduled_at for p in mine),
            ends,
            read_x=bool(options.get("x")),
            x_max_reads=int(options.get("x_max_reads") or settings.answers.x_max_reads),
            timezone=chat.timezone,
        )
        for post in sorted(mine, key=lambda p: p.posted_at or p.scheduled_at):
            if post.state == PostState.POSTED and post.remote_id and post.posted_at:
                followed.first.setdefault(post.platform, (post.remote_id, post.posted_at))
            if post.kind == "question" and post.number is not None:
                posted = post.state == PostState.POSTED
                followed.questions.append(
                    Question(
                        post.number,
                        post.platform,
                        post.remote_id if posted else None,
                        post.posted_at if posted else None,
                    )
                )
        out.append(followed)
    return out


# -- reading positions -------------------------------------------------------------------------


def claim_source(
    session: Session, chat: str, platform: str, account: str, now: datetime, every: timedelta
) -> AnswerSource | None:
    """The platform's reading position for the chat, if it is this caller's turn to read it:
    a conditional update, so two workers never read (and pay for) the same page."""
    if session.get(AnswerSource, (chat, platform)) is None:
        try:
            with session.begin_nested():
                session.add(AnswerSource(chat_key=chat, platform=platform, account_key=account))
        except IntegrityError:
            pass  # another worker created it first
    # A little early rather than a whole cycle late: the follower's cycles drift by a few ms,
    # and "3 s" must not become 4.
    slack = min(every / 10, SLACK)
    due = or_(AnswerSource.read_at.is_(None), AnswerSource.read_at <= now - every + slack)
    ready = or_(AnswerSource.retry_at.is_(None), AnswerSource.retry_at <= now)
    claimed = session.execute(
        update(AnswerSource)
        .where(AnswerSource.chat_key == chat, AnswerSource.platform == platform, due, ready)
        .values(read_at=now, account_key=account)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    source = session.get(AnswerSource, (chat, platform), populate_existing=True)
    return source


def sources(session: Session, chat: str) -> list[AnswerSource]:
    return list(
        session.scalars(
            select(AnswerSource)
            .where(AnswerSource.chat_key == chat)
            .order_by(AnswerSource.platform)
        )
    )


# -- answers -----------------------------------------------------------------------------------


def record(
    session: Session,
    followed: Followed,
    platform: str,
    found: list[FoundPost],
    now: datetime,
) -> int:
    """Write the answers not yet known (each once, whichever worker or stream saw it first) and
    count them under their question. Returns how many were new."""
    if not found:
        return 0
    # Loaded here, not with the module: `chatbot chat status` reads the counts at start-up.
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    new = 0
    unique = {post.remote_id: post for post in found}
    for post in unique.values():
        question = place(post, platform, followed.questions)
        created = post.created_at or now
        inserted = session.execute(
            insert(Answer)
            .values(
                chat_key=followed.key,
                platform=platform,
                remote_id=post.remote_id,
                question=question,
                author=post.author[:255],
                text=post.text,
                url=post.url,
                created_at=created,
                seen_at=now,
            )
            .on_conflict_do_nothing()
            .returning(Answer.id)
        ).first()
        if inserted is None:
            continue
        new += 1
        _count(session, followed.key, question or 0, platform)
    return new


def _count(session: Session, chat: str, question: int, platform: str) -> None:
    bumped = session.execute(
        update(AnswerCount)
        .where(
            AnswerCount.chat_key == chat,
            AnswerCount.question == question,
            AnswerCount.platform == platform,
        )
        .values(answers=AnswerCount.answers + 1)
        .execution_options(synchronize_session=False)
    )
    if bumped.rowcount == 0:  # type: ignore[attr-defined]
        session.add(AnswerCount(chat_key=chat, question=question, platform=platform, answers=1))
        session.flush()


def listed(
    session: Session,
    chat: str,
    question: int | None = None,
    after_id: int = 0,
    limit: int = 100,
    oldest_first: bool = False,
) -> list[Answer]:
    """Newest first (``oldest_first``: in arrival order after ``after_id``, for paging
    forward); ``question`` 0 lists the answers not placed, None all of them."""
    query = select(Answer).where(Answer.chat_key == chat, Answer.id > after_id)
    if question == 0:
        query = query.where(Answer.question.is_(None))
    elif question is not None:
        query = query.where(Answer.question == question)
    order = Answer.id.asc() if oldest_first else Answer.id.desc()
    return list(session.scalars(query.order_by(order).limit(limit)))


def counts(session: Session, chat: str) -> dict[tuple[int, str], int]:
    """(question, platform) -> answers, question 0 for those not placed: this outlives the purge."""
    return OrmStore(session).answer_counts(chat)


def purge(session: Session, settings: Settings, now: datetime) -> dict[str, int]:
    """Delete the participants' posts of every chat whose follow window closed more than
    ``answers.keep`` ago (a chat no longer in the content: its newest answer's time counts as
    the close). Returns the answers deleted per chat."""
    held = dict(
        session.execute(
            select(Answer.chat_key, func.max(Answer.seen_at)).group_by(Answer.chat_key)
        ).all()
    )
    if not held:
        return {}
    windows = {f.key: f.ends for f in chats(session, settings, list(held))}
    deleted = {}
    for chat, newest in held.items():
        closed = windows.get(chat, newest)
        if closed + settings.answers.keep > now:
            continue
        gone = session.execute(
            delete(Answer)
            .where(Answer.chat_key == chat)
            .execution_options(synchronize_session=False)
        )
        deleted[chat] = int(gone.rowcount)  # type: ignore[attr-defined]
        session.execute(
            update(AnswerSource)
            .where(AnswerSource.chat_key == chat)
            .values(purged_at=now)
            .execution_options(synchronize_session=False)
        )
    return deleted
