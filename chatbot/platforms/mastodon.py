"""Mastodon: grapheme lengths with links counted as the instance says, an access token from
the environment or a partner's OAuth sign-in (the tool registers itself as an app on the
partner's instance), boosts for amplification."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from chatbot import counting
from chatbot.platforms.base import Build, Connection, Platform
from chatbot.settings import Account, Platforms, Settings

if TYPE_CHECKING:
    from chatbot.counting import Entity
    from chatbot.publishers.base import Publisher


def _redirect(settings: Settings) -> str:
    return f"{settings.web.public_url.rstrip('/')}/connect/mastodon/callback"


class Mastodon(Platform):
    name = "mastodon"
    label = "Mastodon"
    streams = True  # the hashtag stream (server-sent events), where the instance offers it
    reads_every = "mastodon_poll_interval"  # when it does not: its rate limit is 1 request/s
    rules = "mastodon"
    credential_names = ("ACCESS_TOKEN",)
    needs_instance_url = True
    connect_by = "oauth"
    card_limit = 8_000_000
    image_limit = 8_000_000

    def length(self, text: str, platforms: Platforms | None = None) -> int:
        weight = platforms.mastodon.url_weight if platforms is not None else 23
        return counting.mastodon_length(text, weight)

    def entities(self, text: str) -> list[Entity]:
        return counting.mastodon_entities(text)

    def publisher(
        self,
        key: str,
        account: Account,
        credentials: Mapping[str, str],
        build: Build,
        token_provider: Callable[[], str] | None = None,
    ) -> Publisher:
        from chatbot.publishers.mastodon import MastodonPublisher

        options = build.settings.platforms.mastodon
        return MastodonPublisher(
            key,
            account.handle,
            access_token=credentials["access_token"],
            instance_url=account.instance_url or "",
            visibility=account.visibility,
            timeout=options.request_timeout,
            fallback_max_length=options.max_length,
            fallback_url_weight=options.url_weight,
            cache_seconds=options.instance_cache.total_seconds(),
        )

    def authorization(
        self, settings: Settings, account: Account, state: str
    ) -> tuple[str, dict[str, object]]:
        from chatbot.publishers.mastodon import mastodon_authorization_url, mastodon_register_app

        instance = account.instance_url or ""
        client_id, client_secret = mastodon_register_app(
            instance, _redirect(settings), settings.web.public_url
        )
        url = mastodon_authorization_url(
            instance, client_id, client_secret, _redirect(settings), state
        )
        return url, {"client_id": client_id, "client_secret": client_secret}

    def finish_authorization(
        self,
        settings: Settings,
        account: Account,
        saved: dict[str, object],
        code: str,
        now: datetime,
    ) -> Connection:
        from chatbot.publishers.mastodon import mastodon_exchange_code

        token = mastodon_exchange_code(
            account.instance_url or "",
            str(saved["client_id"]),
            str(saved["client_secret"]),
            _redirect(settings),
            code,
        )
        return Connection("oauth", {**saved, "access_token": token})

    def revoke(self, settings: Settings, account: Account, secrets: Mapping[str, object]) -> None:
        from chatbot.publishers.mastodon import mastodon_revoke

        token = str(secrets.get("access_token") or "")
        if token:
            mastodon_revoke(
                account.instance_url or "",
                str(secrets.get("client_id", "")),
                str(secrets.get("client_secret", "")),
                token,
            )
