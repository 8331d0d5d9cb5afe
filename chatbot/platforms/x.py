"""X (Twitter) API v2: twitter-text v3 lengths, pay-per-use prices, OAuth 1.0a from the
environment for the organisation's accounts, OAuth 2.0 with PKCE for partners (access tokens
last two hours; every refresh rotates the refresh token)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chatbot import counting
from chatbot.errors import ConfigError
from chatbot.platforms.base import Build, Connection, Platform, TokenSet
from chatbot.settings import Account, Platforms, Settings

if TYPE_CHECKING:  # tweepy is imported only when X is used
    from chatbot.counting import Entity
    from chatbot.publishers.base import Publisher
    from chatbot.publishers.x import XOAuthApp


class X(Platform):
    name = "x"
    label = "X"
    # X bills every post read; recent search finds replies by conversation_id; likes left
    # its API's self-serve tiers on 2026-04-20.
    reads_cost = True
    reads_every = "x_poll_interval"
    replies_in_search = True
    likes = False
    rules = "x"
    credential_names = ("API_KEY", "API_SECRET", "ACCESS_TOKEN", "ACCESS_SECRET")
    connect_by = "oauth"
    card_size = (1600, 900)
    card_limit = 5_000_000
    image_limit = 5_000_000

    def length(self, text: str, platforms: Platforms | None = None) -> int:
        return counting.x_weighted_length(text)

    def entities(self, text: str) -> list[Entity]:
        return counting.x_entities(text)

    def refused_characters(self, text: str) -> list[str]:
        return counting.x_invalid_characters(text)

    def cost(self, kind: str, text: str, has_media: bool, platforms: Platforms) -> float:
        prices = platforms.x
        if kind == "repost":
            return prices.price_repost
        cost = prices.price_post_with_link if counting.urls_in(text) else prices.price_post
        return cost + (prices.price_media if has_media else 0.0)

    def publisher(
        self,
        key: str,
        account: Account,
        credentials: Mapping[str, str],
        build: Build,
        token_provider: Callable[[], str] | None = None,
    ) -> Publisher:
        from chatbot.publishers.x import XPublisher

        options = build.settings.platforms.x
        if token_provider is not None:
            return XPublisher(
                key,
                account.handle,
                base_url=options.api_base_url,
                timeout=options.request_timeout,
                token_provider=token_provider,
            )
        return XPublisher(
            key,
            account.handle,
            api_key=credentials["api_key"],
            api_secret=credentials["api_secret"],
            access_token=credentials["access_token"],
            access_secret=credentials["access_secret"],
            base_url=options.api_base_url,
            timeout=options.request_timeout,
        )

    def _app(self, settings: Settings) -> XOAuthApp:
        """This installation's X OAuth 2.0 client (client id and secret from the env)."""
        from chatbot.publishers.x import XOAuthApp

        callback = f"{settings.web.public_url.rstrip('/')}/connect/x/callback"
        client_id = os.environ.get("X_CLIENT_ID", "")
        if not client_id:
            raise ConfigError(
                "X_CLIENT_ID is not set: create an OAuth 2.0 app in the X developer portal "
                f"(callback {callback}) and put its client id (and X_CLIENT_SECRET for a "
                "confidential client) in the environment"
            )
        x = settings.platforms.x
        return XOAuthApp(
            client_id,
            os.environ.get("X_CLIENT_SECRET") or None,
            callback,
            x.oauth_authorize_url,
            x.oauth_token_url,
            x.oauth_revoke_url,
            x.request_timeout,
        )

    def authorization(
        self, settings: Settings, account: Account, state: str
    ) -> tuple[str, dict[str, object]]:
        from chatbot.publishers.x import x_authorization_url

        url, verifier = x_authorization_url(self._app(settings), state)
        return url, {"verifier": verifier}

    def finish_authorization(
        self,
        settings: Settings,
        account: Account,
        saved: dict[str, object],
        code: str,
        now: datetime,
    ) -> Connection:
        from chatbot.publishers.x import x_exchange_code

        tokens = x_exchange_code(self._app(settings), code, str(saved["verifier"]))
        expires = now + timedelta(seconds=tokens.expires_in) if tokens.expires_in else None
        secrets: dict[str, object] = {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
        }
        return Connection("oauth2", secrets, expires)

    def refresh(self, settings: Settings, refresh_token: str, now: datetime) -> TokenSet | None:
        from chatbot.publishers.x import x_refresh

        tokens = x_refresh(self._app(settings), refresh_token)
        expires = now + timedelta(seconds=tokens.expires_in) if tokens.expires_in else None
        return TokenSet(tokens.access_token, tokens.refresh_token, expires)

    def revoke(self, settings: Settings, account: Account, secrets: Mapping[str, object]) -> None:
        from chatbot.publishers.x import x_revoke

        token = str(secrets.get("access_token") or "")
        if token:
            x_revoke(self._app(settings), token)
