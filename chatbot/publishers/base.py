"""The publisher interface and the errors the engine understands.

The engine never sees a library's exception (tweepy, requests, ...): each publisher translates
them into these, which carry what the engine needs to decide (a reset time, whether the post may
exist, a message a person can act on).
"""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class Media:
    path: Path
    alt: str


@dataclass(frozen=True)
class OutgoingPost:
    """What to publish: text and media, or a repost of an existing remote post."""

    key: str
    text: str = ""
    media: tuple[Media, ...] = ()
    reply_to: str | None = None
    repost_of: str | None = None
    like_of: str | None = None  # a host's like of a participant's answer
    # When the post was due: platforms that let the client choose a record key (Bluesky) derive
    # it from this, so that a retry of the same post lands on the same key.
    scheduled_at: datetime | None = None

    def idempotency_key(self, account: str) -> str:
        """The same for every attempt at this post as it is now (Mastodon's Idempotency-Key);
        an edit gives a new key, so an edited post is never swallowed as a retry."""
        parts = [
            account,
            self.key,
            self.text,
            self.reply_to or "",
            self.repost_of or "",
            # Only when set: every other post keeps the key it had before likes existed.
            *([f"like:{self.like_of}"] if self.like_of else []),
            *(f"{m.path.name}|{m.alt}" for m in self.media),
        ]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Published:
    remote_id: str
    url: str


@dataclass(frozen=True)
class RemotePost:
    """A post read back from the account's timeline, for reconciliation."""

    remote_id: str
    text: str
    created_at: datetime | None
    url: str
    repost_of: str | None = None


@dataclass(frozen=True)
class FoundPost:
    """Somebody's post read while following a chat: shown, counted, purged, never profiled."""

    remote_id: str
    author: str  # the handle as the platform shows it
    text: str
    url: str
    created_at: datetime | None
    reply_to: str | None = None  # the remote id of the post it answers


class Stream(abc.ABC):
    """A live feed of tagged posts (Mastodon's streaming API); ``alive`` turns false when it
    drops, and the follower falls back to polling."""

    @property
    @abc.abstractmethod
    def alive(self) -> bool: ...

    @abc.abstractmethod
    def close(self) -> None: ...


class PublishError(Exception):
    """Base of every publishing error. ``may_exist``: the post might have been created."""

    may_exist = False

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class RateLimited(PublishError):
    """Nothing was created; the account must wait until ``reset_at``."""

    def __init__(self, message: str, reset_at: datetime | None):
        super().__init__(message)
        self.reset_at = reset_at


class UsageCapped(PublishError):
    """The app is out of API credit: nothing more goes out until a person adds some."""


class Unauthorized(PublishError):
    """Credentials rejected: the account is paused and a person is told."""


class DuplicateContent(PublishError):
    """The platform says this text was already posted: reconcile, never retry."""

    may_exist = True


class BadRequest(PublishError):
    """The platform refused the post as it is (the message says why): a person must edit it."""


class ReplyNotAllowed(BadRequest):
    """The platform refused a reply (X's 2026 rules): post standalone instead."""


class OutcomeUnknown(PublishError):
    """Timeout, dropped connection or server error after sending: the post may exist."""

    may_exist = True


class TransientError(PublishError):
    """A failure before anything was sent (e.g. connection refused): safe to try again later."""


class NotOffered(BadRequest):
    """The platform (or this account's access to it) has no such call: e.g. likes through X's
    API since 2026-04-20, or reading a dry-run account."""


@dataclass
class Publisher(abc.ABC):
    """One account on one platform. Implementations are short and hold no scheduling logic."""

    account: str
    handle: str = ""

    @abc.abstractmethod
    def publish(self, post: OutgoingPost) -> Published:
        """Create the post (or the repost). Raises a ``PublishError`` subclass on failure."""

    @abc.abstractmethod
    def recent_posts(self, since: datetime) -> list[RemotePost]:
        """The account's own posts (and reposts) created since ``since``, newest first."""

    # -- following a chat's answers (optional: a platform without them raises NotOffered) --

    def find_tagged(
        self, tag: str, since_id: str | None, replies_to: tuple[str, ...] = ()
    ) -> list[FoundPost]:
        """Posts carrying ``#tag`` (and, where one query can, replies to ``replies_to``) newer
        than ``since_id``, any order; ``tag`` without its ``#``."""
        raise NotOffered(f"{self.account}: this platform's answers cannot be read")

    def find_replies(self, remote_id: str) -> list[FoundPost]:
        """Replies to one of the account's posts (a question)."""
        return []

    def stream_tagged(self, tag: str, on_post: Callable[[FoundPost], None]) -> Stream | None:
        """A live stream of ``#tag`` calling ``on_post`` from its own thread, or None where
        the platform (or instance) has none: the follower polls ``find_tagged`` instead."""
        return None

    def check_credentials(self) -> None:  # noqa: B027 - optional hook
        """Raise ``Unauthorized`` if the credentials do not work (called once at start)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release network resources."""
