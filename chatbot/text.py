"""Post text as each platform sees it: its length by that platform's own rule, and the links,
hashtags and mentions in it.

``weighted_length(text, platform)`` is the public API external checks use; the rule comes from
the platform registry (twitter-text v3 for X and dry-run accounts, Mastodon's for Mastodon,
graphemes for Bluesky), the counting itself from ``chatbot.counting``.
"""

from __future__ import annotations

from chatbot.counting import (
    HASHTAG,
    MENTION,
    graphemes,
    hashtags_in,
    mastodon_length,
    mentions_in,
    urls_in,
    x_weighted_length,
)
from chatbot.platforms import DEFAULT_PLATFORM, platform_named


def weighted_length(text: str, platform: str = DEFAULT_PLATFORM) -> int:
    """The platform's own count of ``text``: twitter-text v3 for ``x`` (and ``dryrun``),
    Mastodon's rules for ``mastodon``, graphemes for ``bluesky``."""
    return platform_named(platform).length(text)


__all__ = [
    "HASHTAG",
    "MENTION",
    "graphemes",
    "hashtags_in",
    "mastodon_length",
    "mentions_in",
    "urls_in",
    "weighted_length",
    "x_weighted_length",
]
