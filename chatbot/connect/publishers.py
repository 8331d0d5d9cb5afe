"""Every account's publisher, as ``chatbot run`` hands them to the worker.

The organisation's accounts post with credentials from the environment; a partner that
connected its own account (``chatbot partner invite``) posts with its stored, encrypted tokens,
followed live: connecting, reconnecting or disconnecting takes effect at the next post. With
``publisher: dryrun`` every account records instead of posting. What each platform needs comes
from the platform registry; nothing here knows a platform by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

from sqlalchemy import select

from chatbot.config import Config, credentials
from chatbot.connect import credentials as stored
from chatbot.connect.credentials import RefreshFailed
from chatbot.connect.crypto import TokenBox
from chatbot.connect.service import NOT_CONNECTED
from chatbot.db.models import Credential
from chatbot.db.session import Database
from chatbot.engine import store
from chatbot.engine.clock import Clock
from chatbot.errors import ConfigError
from chatbot.platforms import Build, TokenSet, platform_named
from chatbot.platforms.dryrun import DryRun
from chatbot.publishers.base import (
    OutgoingPost,
    Published,
    Publisher,
    PublishError,
    RemotePost,
    Unauthorized,
)


def _build(config: Config, clock: Clock, out: TextIO | None) -> Build:
    return Build(config.settings, clock.now, config.resolve(config.settings.worker.dryrun_log), out)


def build_publishers(
    config: Config, clock: Clock, out: TextIO | None, db: Database | None = None
) -> dict[str, Publisher]:
    """One publisher per account; refuses to start when live credentials are missing."""
    settings = config.settings
    build = _build(config, clock, out)
    connected = {}
    if db is not None and not settings.dry_run:
        connected = stored.connected_accounts(db)
    publishers: dict[str, Publisher] = {}
    for key, account in settings.accounts.items():
        platform = platform_named(account.platform)
        if settings.dry_run:
            publishers[key] = DryRun().publisher(key, account, {}, build)
        elif db is not None and (key in connected or account.credentials == "invite"):
            publishers[key] = ConnectedAccountPublisher(
                key, account.handle, config=config, db=db, clock=clock, out=out
            )
        else:
            publishers[key] = platform.publisher(key, account, credentials(key, account), build)
    return publishers


def connected_publisher(
    config: Config, db: Database, key: str, clock: Clock, out: TextIO | None = None
) -> Publisher:
    """The publisher of a partner's connected account, from its stored tokens. A platform
    whose access tokens expire (X) gets a provider that refreshes them when near expiry."""
    settings = config.settings
    account = settings.accounts[key]
    box = TokenBox.from_env()
    found = stored.load(db, box, key)
    if found is None:
        raise ConfigError(f"account {key!r} is no longer connected")
    row, secrets = found
    if row.platform != account.platform:
        raise ConfigError(
            f"accounts.{key}.platform is {account.platform} but the connected account is on "
            f"{row.platform}: disconnect it and send a new invite"
        )
    platform = platform_named(row.platform)
    build = _build(config, clock, out)
    if not secrets.get("refresh_token"):  # a token that does not expire, or an app password
        plain = {name: str(value) for name, value in secrets.items()}
        return platform.publisher(key, account, plain, build)
    margin = settings.connect.refresh_margin

    def refresher(refresh_token: str) -> TokenSet:
        fresh = platform.refresh(settings, refresh_token, clock.now())
        if fresh is None:
            raise RefreshFailed(f"{platform.label} tokens cannot be refreshed")
        return fresh

    def token() -> str:
        try:
            return stored.access_token(db, box, key, clock.now, margin, refresher)
        except (RefreshFailed, PublishError) as exc:
            message = getattr(exc, "message", str(exc))
            store.add_audit(db, clock.now(), "worker", "partner.refresh_failed", key, error=message)
            raise Unauthorized(
                f"the connection to {platform.label} needs renewing: {message}"
            ) from None

    return platform.publisher(key, account, {}, build, token_provider=token)


@dataclass
class ConnectedAccountPublisher(Publisher):
    """A partner account's publisher that follows its connection while the worker runs: a
    partner connecting, reconnecting or disconnecting takes effect at the next post, without
    a restart. Not connected: ``Unauthorized``, so the account is paused and a person told."""

    config: Config | None = field(default=None, repr=False)
    db: Database | None = field(default=None, repr=False)
    clock: Clock | None = field(default=None, repr=False)
    out: TextIO | None = field(default=None, repr=False)
    _inner: Publisher | None = field(default=None, repr=False)
    _connected_at: datetime | None = None

    def _current(self) -> Publisher:
        assert self.db is not None and self.config is not None and self.clock is not None
        with self.db.read() as session:
            connected_at = session.scalar(
                select(Credential.connected_at).where(Credential.account_key == self.account)
            )
        if connected_at is None:
            self.close()
            raise Unauthorized(
                f"{NOT_CONNECTED}: send an invite with `chatbot partner invite {self.account} "
                "--by NAME` (or from the web app's Accounts page)"
            )
        if self._inner is None or connected_at != self._connected_at:
            self.close()
            self._inner = connected_publisher(
                self.config, self.db, self.account, self.clock, self.out
            )
            self._connected_at = connected_at
        return self._inner

    def publish(self, post: OutgoingPost) -> Published:
        return self._current().publish(post)

    def recent_posts(self, since: datetime) -> list[RemotePost]:
        return self._current().recent_posts(since)

    def check_credentials(self) -> None:
        self._current().check_credentials()

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
            self._inner = None
