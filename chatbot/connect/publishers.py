"""Publishers for connected partner accounts, built from their stored, encrypted tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from chatbot.config import Config
from chatbot.connect import credentials
from chatbot.connect.credentials import RefreshFailed, TokenSet
from chatbot.connect.crypto import TokenBox
from chatbot.connect.service import NOT_CONNECTED
from chatbot.db.models import Credential
from chatbot.db.session import Database
from chatbot.engine import store
from chatbot.engine.clock import Clock
from chatbot.errors import ConfigError
from chatbot.publishers.base import (
    OutgoingPost,
    Published,
    Publisher,
    PublishError,
    RemotePost,
    Unauthorized,
)
from chatbot.timeutil import parse_duration


def connected_publisher(config: Config, db: Database, key: str, clock: Clock) -> Publisher:
    settings = config.settings
    account = settings.accounts[key]
    box = TokenBox.from_env()
    found = credentials.load(db, box, key)
    if found is None:
        raise ConfigError(f"account {key!r} is no longer connected")
    row, secrets = found
    if row.platform != account.platform:
        raise ConfigError(
            f"accounts.{key}.platform is {account.platform} but the connected account is on "
            f"{row.platform}: disconnect it and send a new invite"
        )
    if row.platform == "x":
        from chatbot.connect.service import x_app
        from chatbot.publishers.x import XPublisher, x_refresh

        app = x_app(config)
        margin = parse_duration(settings.connect.refresh_margin)

        def refresher(refresh_token: str) -> TokenSet:
            tokens = x_refresh(app, refresh_token)
            expires = (
                clock.now() + timedelta(seconds=tokens.expires_in) if tokens.expires_in else None
            )
            return TokenSet(tokens.access_token, tokens.refresh_token, expires)

        def token() -> str:
            try:
                return credentials.access_token(db, box, key, clock.now, margin, refresher)
            except (RefreshFailed, PublishError) as exc:
                message = getattr(exc, "message", str(exc))
                store.add_audit(
                    db, clock.now(), "worker", "partner.refresh_failed", key, error=message
                )
                raise Unauthorized(f"the connection to X needs renewing: {message}") from None

        return XPublisher(
            key,
            account.handle,
            base_url=settings.platforms.x.api_base_url,
            timeout=settings.platforms.x.request_timeout,
            token_provider=token,
        )
    from chatbot.engine.worker import bluesky_publisher, mastodon_publisher

    if row.platform == "mastodon":
        return mastodon_publisher(config, key, str(secrets["access_token"]))
    return bluesky_publisher(config, key, str(secrets["app_password"]), clock)


@dataclass
class ConnectedAccountPublisher(Publisher):
    """A partner account's publisher that follows its connection while the worker runs: a
    partner connecting, reconnecting or disconnecting takes effect at the next post, without
    a restart. Not connected: ``Unauthorized``, so the account is paused and a person told."""

    config: Config | None = field(default=None, repr=False)
    db: Database | None = field(default=None, repr=False)
    clock: Clock | None = field(default=None, repr=False)
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
            self._inner = connected_publisher(self.config, self.db, self.account, self.clock)
            self._connected_at = connected_at
        return self._inner

    def publish(self, post: OutgoingPost) -> Published:
        published = self._current().publish(post)
        self.sent.append(post)
        return published

    def recent_posts(self, since: datetime) -> list[RemotePost]:
        return self._current().recent_posts(since)

    def check_credentials(self) -> None:
        self._current().check_credentials()

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()
            self._inner = None
