"""The dry run: records what would be posted, posts nothing. It stands in for an X account
(X's rules and limits apply) and, as a partner, may follow any platform's copies."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from chatbot import counting
from chatbot.platforms.base import Build, Platform
from chatbot.settings import Account, Platforms

if TYPE_CHECKING:
    from chatbot.counting import Entity
    from chatbot.publishers.base import Publisher


class DryRun(Platform):
    name = "dryrun"
    label = "dry run"
    rules = "x"
    stands_in = True
    card_size = (1600, 900)

    def length(self, text: str, platforms: Platforms | None = None) -> int:
        return counting.x_weighted_length(text)

    def entities(self, text: str) -> list[Entity]:
        return counting.x_entities(text)

    def refused_characters(self, text: str) -> list[str]:
        return counting.x_invalid_characters(text)

    def publisher(
        self,
        key: str,
        account: Account,
        credentials: Mapping[str, str],
        build: Build,
        token_provider: Callable[[], str] | None = None,
    ) -> Publisher:
        from chatbot.publishers.dryrun import DryRunPublisher

        return DryRunPublisher(
            key, account.handle, log_path=build.dryrun_log, out=build.out, now=build.now
        )
