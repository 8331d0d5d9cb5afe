"""The platform registry: one ``Platform`` entry per platform (see ``base``).

platform_named("mastodon").length(text)
platform_named(account.platform).publisher(key, account, credentials, build)
"""

from __future__ import annotations

from chatbot.platforms.base import Build, Connection, NotSupported, Platform, TokenSet
from chatbot.platforms.bluesky import Bluesky
from chatbot.platforms.dryrun import DryRun
from chatbot.platforms.mastodon import Mastodon
from chatbot.platforms.x import X

PLATFORMS: dict[str, Platform] = {p.name: p for p in (X(), Mastodon(), Bluesky(), DryRun())}
PLATFORM_NAMES: tuple[str, ...] = tuple(PLATFORMS)
# The platform whose rules text is measured by when none is named.
DEFAULT_PLATFORM = "x"


def platform_named(name: str) -> Platform:
    try:
        return PLATFORMS[name]
    except KeyError:
        raise ValueError(
            f"unknown platform {name!r}; use one of {', '.join(PLATFORM_NAMES)}"
        ) from None


def family(name: str) -> str:
    """Whose rules apply to an account on ``name`` (a dry-run account is checked as X)."""
    return platform_named(name).rules


__all__ = [
    "DEFAULT_PLATFORM",
    "PLATFORMS",
    "PLATFORM_NAMES",
    "Build",
    "Connection",
    "NotSupported",
    "Platform",
    "TokenSet",
    "family",
    "platform_named",
]
