"""Bluesky (AT Protocol): grapheme lengths, an app password (never the account's real one)
from the environment or pasted by a partner, one login per process, reposts by strong ref."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from chatbot import counting
from chatbot.platforms.base import Build, Connection, Platform
from chatbot.settings import Account, Platforms, Settings

if TYPE_CHECKING:
    from chatbot.counting import Entity
    from chatbot.publishers.base import Publisher


class Bluesky(Platform):
    name = "bluesky"
    label = "Bluesky"
    since_is_time = True  # searchPosts pages by time (``since``)
    rules = "bluesky"
    credential_names = ("APP_PASSWORD",)
    connect_by = "app_password"
    card_limit = 2_000_000  # the PDS's own limit
    image_limit = 10_000_000  # larger than the PDS takes: the publisher re-encodes to fit

    def length(self, text: str, platforms: Platforms | None = None) -> int:
        return counting.graphemes(text)

    def entities(self, text: str) -> list[Entity]:
        return counting.bluesky_entities(text)

    def remote_id_from_url(self, url: str) -> str:
        """A repost needs the AT URI: ``https://bsky.app/profile/HANDLE/post/RKEY`` becomes
        ``at://HANDLE/app.bsky.feed.post/RKEY``."""
        parts = url.rstrip("/").split("/")
        if len(parts) >= 4 and parts[-2] == "post" and parts[-4] == "profile":
            return f"at://{parts[-3]}/app.bsky.feed.post/{parts[-1]}"
        return parts[-1]

    def publisher(
        self,
        key: str,
        account: Account,
        credentials: Mapping[str, str],
        build: Build,
        token_provider: Callable[[], str] | None = None,
    ) -> Publisher:
        from chatbot.publishers.bluesky import BlueskyPublisher

        options = build.settings.platforms.bluesky
        return BlueskyPublisher(
            key,
            account.handle,
            app_password=credentials["app_password"],
            base_url=account.instance_url or options.api_base_url,
            timeout=options.request_timeout,
            max_image_bytes=options.max_image_bytes,
            max_graphemes=options.max_length,
            now=build.now,
        )

    def app_password(
        self, settings: Settings, key: str, account: Account, password: str
    ) -> Connection:
        from chatbot.publishers.bluesky import BlueskyPublisher

        probe = BlueskyPublisher(
            key,
            account.handle,
            app_password=password,
            base_url=account.instance_url or settings.platforms.bluesky.api_base_url,
            timeout=settings.platforms.bluesky.request_timeout,
        )
        try:
            probe.check_credentials()
        finally:
            probe.close()
        return Connection("app_password", {"app_password": password})
