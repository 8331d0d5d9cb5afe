"""What the tool knows about one platform, in one place: a ``Platform`` entry.

Each entry says how the platform counts text and what it charges, which credentials an account
needs and how to build the account's publisher from them, how a partner connects its own
account (OAuth or an app password), how tokens are refreshed and revoked, and the sizes its
cards and images may have. Adding a platform is one entry (a subclass in this package, listed
in ``chatbot.platforms``) plus its publisher module; nothing else branches on a platform's name.

Entries import their publisher module (and so the platform's client library) only when a
publisher or a sign-in is asked for, so reading the registry costs nothing at start-up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

from chatbot.settings import Account, Platforms, Settings

if TYPE_CHECKING:  # the counting rules and the publishers load when they are used
    from chatbot.counting.base import Entity
    from chatbot.publishers.base import Publisher


@dataclass(frozen=True)
class TokenSet:
    """An OAuth token after a refresh: the new access token, the rotated refresh token."""

    access_token: str
    refresh_token: str | None
    expires_at: datetime | None


@dataclass(frozen=True)
class Connection:
    """What a partner granted: the secrets to store (encrypted) and when they expire."""

    kind: str
    secrets: dict[str, object]
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Build:
    """What building a publisher needs besides the account and its credentials."""

    settings: Settings
    now: Callable[[], datetime]
    dryrun_log: Path | None = None
    out: TextIO | None = None


class NotSupported(Exception):
    """The platform has no such step (e.g. a dry-run account has nothing to connect)."""


class Platform:
    name: ClassVar[str]
    label: ClassVar[str]  # as people read it: "X", "Mastodon"
    # Whose text rules and limits apply: itself, or the platform it stands in for.
    rules: ClassVar[str]
    # {PREFIX}_{NAME} in the environment for an account with credentials: env.
    credential_names: ClassVar[tuple[str, ...]] = ()
    needs_instance_url: ClassVar[bool] = False
    # How a partner connects its own account: "oauth", "app_password", or None (it cannot).
    connect_by: ClassVar[str | None] = None
    # A stand-in (dry run) may follow any platform's copies of a post.
    stands_in: ClassVar[bool] = False
    card_size: ClassVar[tuple[int, int]] = (1200, 1200)
    card_limit: ClassVar[int] = 5_000_000  # a card PNG over this is re-encoded smaller
    image_limit: ClassVar[int] = 5_000_000  # the largest image file it takes
    # Following a chat's answers. ``reads_cost``: each post read is billed, so reading is off
    # unless the chat enables it, and capped. ``reads_every``: the ``answers.*`` setting for
    # how often it is read. ``since_is_time``: its search pages by creation time, not by id.
    # ``replies_in_search``: one search also finds replies to the questions (no thread reads).
    # ``streams``: it may offer a live stream of a hashtag. ``likes``: its API can like a post.
    reads_cost: ClassVar[bool] = False
    reads_every: ClassVar[str] = "poll_interval"
    since_is_time: ClassVar[bool] = False
    replies_in_search: ClassVar[bool] = False
    streams: ClassVar[bool] = False
    likes: ClassVar[bool] = True

    def __repr__(self) -> str:
        return f"<platform {self.name}>"

    def options(self, platforms: Platforms) -> Any:
        """This platform's section of the settings (``platforms.<name>``)."""
        return getattr(platforms, self.name)

    def limits(self, platforms: Platforms) -> tuple[int, int]:
        """(max post length, max alt-text length) as configured."""
        options = self.options(platforms)
        return int(options.max_length), int(options.alt_text_max)

    def length(self, text: str, platforms: Platforms | None = None) -> int:
        """The platform's own count of ``text``."""
        raise NotImplementedError

    def entities(self, text: str) -> list[Entity]:
        """What the platform shows as links, hashtags and mentions in ``text``, by position."""
        raise NotImplementedError

    def refused_characters(self, text: str) -> list[str]:
        """Characters in ``text`` the platform refuses a post for, whatever its length."""
        return []

    def cost(self, kind: str, text: str, has_media: bool, platforms: Platforms) -> float:
        """Estimated API cost of one post in USD."""
        return 0.0

    def remote_id_from_url(self, url: str) -> str:
        """The post's id, as publishers use it, from the link a person pastes."""
        return url.rstrip("/").split("/")[-1]

    def publisher(
        self,
        key: str,
        account: Account,
        credentials: Mapping[str, str],
        build: Build,
        token_provider: Callable[[], str] | None = None,
    ) -> Publisher:
        """The account's publisher, from its credentials (``credential_names`` lower-cased,
        or what a partner's connection stored); ``token_provider``: an OAuth access token
        that is refreshed when near expiry."""
        raise NotImplementedError

    # -- a partner connecting its own account -------------------------------------------

    def authorization(
        self, settings: Settings, account: Account, state: str
    ) -> tuple[str, dict[str, object]]:
        """The sign-in URL for the partner, and what to keep (sealed) until the callback."""
        raise NotSupported(f"{self.label} has no sign-in step")

    def finish_authorization(
        self,
        settings: Settings,
        account: Account,
        saved: dict[str, object],
        code: str,
        now: datetime,
    ) -> Connection:
        """Exchange the callback's code for tokens."""
        raise NotSupported(f"{self.label} has no sign-in step")

    def app_password(
        self, settings: Settings, key: str, account: Account, password: str
    ) -> Connection:
        """Check an app password by signing in once."""
        raise NotSupported(f"{self.label} does not connect with an app password")

    def refresh(self, settings: Settings, refresh_token: str, now: datetime) -> TokenSet | None:
        """New tokens for a connection whose access token expires; None if they never do."""
        return None

    def revoke(self, settings: Settings, account: Account, secrets: Mapping[str, object]) -> None:
        """Best effort: the stored tokens are deleted here whatever the platform answers."""
