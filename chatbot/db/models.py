"""SQLAlchemy models. The posts table is the source of truth for what goes out and when.

Times are stored as naive UTC (``UTCDateTime``) so SQLite and PostgreSQL behave the same, and
come back as aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from chatbot.db.forms import naive_utc

# Re-exported: the rest of the code imports the states from here.
from chatbot.db.states import SENT_STATES as SENT_STATES
from chatbot.db.states import PostState as PostState


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, naive UTC in the database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else naive_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    platform: Mapped[str] = mapped_column(String(16))
    handle: Mapped[str] = mapped_column(String(128), default="")
    paused: Mapped[bool] = mapped_column(default=False)
    paused_reason: Mapped[str | None] = mapped_column(Text)
    rate_limited_until: Mapped[datetime | None]
    remote_user_id: Mapped[str | None] = mapped_column(String(255))


class Chat(Base):
    __tablename__ = "chats"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(Text, default="")
    hashtag: Mapped[str] = mapped_column(String(64), default="")
    host: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime]
    # The zone the script is written in: hosts see the chat's times in it.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    source: Mapped[str] = mapped_column(Text, default="")
    # "paused" while a host has paused it; anything else means the timetable runs.
    live_state: Mapped[str] = mapped_column(String(16), default="scheduled")
    removed: Mapped[bool] = mapped_column(default=False)
    paused_at: Mapped[datetime | None]
    # Incremented by every host control: workers poll it to react within a second, and a
    # control sent with the version its sender saw is refused if someone acted in between.
    control_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # The chat's ``follow:`` options as applied (whether X is read, its cap, the window).
    follow: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text, default="")
    removed: Mapped[bool] = mapped_column(default=False)


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        Index("ix_posts_state_scheduled", "state", "scheduled_at"),
        # What a worker's cycle reads (engine.store.candidates), in the order it sends: it
        # stops after the few it can send instead of sorting every due row (migration 0010).
        Index(
            "ix_posts_due_originals",
            "state",
            "scheduled_at",
            "seq",
            "id",
            sqlite_where=text("depends_on_id IS NULL"),
            postgresql_where=text("depends_on_id IS NULL"),
        ),
        Index(
            "ix_posts_due_dependents",
            "state",
            "scheduled_at",
            "id",
            sqlite_where=text("depends_on_id IS NOT NULL"),
            postgresql_where=text("depends_on_id IS NOT NULL"),
        ),
        Index("ix_posts_account_state", "account_key", "state"),
        Index("ix_posts_held_state", "held", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    account_key: Mapped[str] = mapped_column(ForeignKey("accounts.key"))
    platform: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    chat_key: Mapped[str | None] = mapped_column(String(64))
    campaign_key: Mapped[str | None] = mapped_column(String(64))
    number: Mapped[int | None] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(default=0)
    text: Mapped[str] = mapped_column(Text, default="")
    card: Mapped[str | None] = mapped_column(String(64))
    card_fields: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    alt: Mapped[str | None] = mapped_column(Text)
    image: Mapped[str | None] = mapped_column(Text)
    reply_to_previous: Mapped[bool] = mapped_column(default=False)
    scheduled_at: Mapped[datetime]
    planned_at: Mapped[datetime]
    content_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=PostState.DRAFT)
    state_reason: Mapped[str | None] = mapped_column(Text)
    depends_on_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id"))
    offset_seconds: Mapped[float | None] = mapped_column(Float)
    estimated_cost: Mapped[float] = mapped_column(Float, default=0.0)
    edited_by: Mapped[str] = mapped_column(String(128), default="")
    source_path: Mapped[str] = mapped_column(Text, default="")
    source_line: Mapped[int] = mapped_column(default=0)
    claim_token: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    # Held for a person: the worker will not touch it until someone settles it.
    held: Mapped[bool] = mapped_column(default=False, server_default="0")
    sent_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    reconcile_count: Mapped[int] = mapped_column(default=0, server_default="0")
    remote_id: Mapped[str | None] = mapped_column(String(512))
    # A host's action on a participant's answer (reply, repost, like): the answer's remote id.
    target_remote_id: Mapped[str | None] = mapped_column(String(512))
    remote_url: Mapped[str | None] = mapped_column(Text)
    posted_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    depends_on: Mapped[Post | None] = relationship(remote_side=[id])

    @property
    def group(self) -> str:
        return self.chat_key or self.campaign_key or ""


class Approval(Base):
    """A person's decision on one post at one content hash. An edit voids it (``voided_at``)."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id"), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    by: Mapped[str] = mapped_column(String(128))
    note: Mapped[str] = mapped_column(Text, default="")
    target: Mapped[str] = mapped_column(String(200), default="")
    at: Mapped[datetime]
    voided_at: Mapped[datetime | None]
    voided_reason: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class User(Base):
    """Someone who signs in to the web app. Partners see only their own account's posts."""

    __tablename__ = "users"
    # Never reuse a removed user's id (SQLite would otherwise hand it to the next user).
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy reads it

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    account_key: Mapped[str | None] = mapped_column(String(64))
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]


class WebSession(Base):
    """One signed-in browser. The cookie carries a random token; only its hash is kept, so a
    database dump signs nobody in. Removing the user, changing its password or role, or
    signing out deletes the user's rows: every copy of the cookie stops working at once."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class SignInFailure(Base):
    """Failed sign-ins per user name and per client address, for throttling."""

    __tablename__ = "sign_in_failures"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # "name:x" / "client:ip"
    failures: Mapped[int] = mapped_column(default=0)
    last_at: Mapped[datetime]
    locked_until: Mapped[datetime | None]


class Invite(Base):
    """A single-use link for a partner to connect one account. Only the token's hash is kept."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_key: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    # While an OAuth round trip is under way: the state's hash and the PKCE verifier, encrypted.
    oauth_state_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    oauth_secret: Mapped[str | None] = mapped_column(Text)


class Credential(Base):
    """A connected account's tokens, encrypted with the key from the environment (Fernet).

    ``version`` is bumped by every refresh: a worker that finds it changed under its row lock
    uses the new token instead of spending a refresh token another worker already rotated.
    """

    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_key: Mapped[str] = mapped_column(String(64), unique=True)
    platform: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    secret: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    connected_by: Mapped[str] = mapped_column(String(128), default="")
    connected_at: Mapped[datetime]
    refreshed_at: Mapped[datetime | None]
    # A worker is refreshing the token until then (it calls the token endpoint outside any
    # transaction); the others wait for ``version`` to change.
    refreshing_until: Mapped[datetime | None]


class Answer(Base):
    """A participant's post in a chat's follow window. Third-party personal data: held only
    until ``answers.keep`` after the window closes, then deleted (the counts stay)."""

    __tablename__ = "answers"
    __table_args__ = (
        UniqueConstraint("chat_key", "platform", "remote_id", name="uq_answers_remote"),
        Index("ix_answers_chat_seen", "chat_key", "seen_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_key: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str] = mapped_column(String(16))
    remote_id: Mapped[str] = mapped_column(String(512))
    question: Mapped[int | None] = mapped_column(Integer)
    author: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    seen_at: Mapped[datetime]


class AnswerCount(Base):
    """Answers per question and platform: the recap that outlives the purge (no one's data)."""

    __tablename__ = "answer_counts"

    chat_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    question: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0: not placed
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    answers: Mapped[int] = mapped_column(default=0, server_default="0")


class AnswerSource(Base):
    """How far reading one platform for one chat has got, and what is wrong with it."""

    __tablename__ = "answer_sources"

    chat_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    account_key: Mapped[str] = mapped_column(String(64))
    since_id: Mapped[str | None] = mapped_column(String(512))
    reads: Mapped[int] = mapped_column(default=0, server_default="0")  # posts returned
    mode: Mapped[str] = mapped_column(String(16), default="polling", server_default="polling")
    problem: Mapped[str | None] = mapped_column(Text)
    retry_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    purged_at: Mapped[datetime | None]
