"""Counting and finding things in post text, the way each platform does it.

The counting rules are here, below everything that needs them (publishers check lengths
before sending); which rule a platform uses is the platform registry's business
(``chatbot.platforms``), and ``chatbot.text.weighted_length`` asks it.

- X (``x.py``): twitter-text v3, weighted, URLs 23, emoji discounted.
- Mastodon (``mastodon.py``): the server's ``StatusLengthValidator``: twitter-text's URL
  extraction as Mastodon patches it, URLs 23, remote mentions by username, graphemes.
- Bluesky (``bluesky.py``): graphemes, nothing discounted; facets as the official app detects
  them, in UTF-8 byte offsets.

Each is proven on the platform's own test tables (``tests/test_conformance.py``).

The names load on first use (PEP 562): the platform registry is imported by every command,
through the config, and a host's ``chatbot chat pause`` must not compile the counting rules'
patterns (a fiftieth of a second) that it never uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chatbot.counting.base import Entity, EntityKind, graphemes
    from chatbot.counting.bluesky import Facet, bluesky_entities, find_facets
    from chatbot.counting.mastodon import mastodon_entities, mastodon_length
    from chatbot.counting.x import (
        HASHTAG,
        MENTION,
        X_V3,
        WeightRange,
        XTextConfig,
        extract_urls_with_indices,
        hashtags_in,
        mentions_in,
        urls_in,
        x_entities,
        x_invalid_characters,
        x_weighted_length,
    )

_WHERE = {
    **dict.fromkeys(("Entity", "EntityKind", "graphemes"), "chatbot.counting.base"),
    **dict.fromkeys(("Facet", "bluesky_entities", "find_facets"), "chatbot.counting.bluesky"),
    **dict.fromkeys(("mastodon_entities", "mastodon_length"), "chatbot.counting.mastodon"),
    **dict.fromkeys(
        (
            "HASHTAG",
            "MENTION",
            "WeightRange",
            "XTextConfig",
            "X_V3",
            "extract_urls_with_indices",
            "hashtags_in",
            "mentions_in",
            "urls_in",
            "x_entities",
            "x_invalid_characters",
            "x_weighted_length",
        ),
        "chatbot.counting.x",
    ),
}

__all__ = [
    "HASHTAG",
    "MENTION",
    "X_V3",
    "Entity",
    "EntityKind",
    "Facet",
    "WeightRange",
    "XTextConfig",
    "bluesky_entities",
    "extract_urls_with_indices",
    "find_facets",
    "graphemes",
    "hashtags_in",
    "mastodon_entities",
    "mastodon_length",
    "mentions_in",
    "urls_in",
    "x_entities",
    "x_invalid_characters",
    "x_weighted_length",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'chatbot.counting' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
