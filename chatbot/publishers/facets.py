"""Bluesky rich-text facets: where the links, hashtags and mentions are, in UTF-8 bytes.

Bluesky shows a link, a hashtag or a mention as clickable only when the record carries a facet
for it, and facet offsets count UTF-8 *bytes*, not characters: an emoji or an accented letter
before a link moves every offset after it. The patterns follow the Bluesky app's own detection
(``@atproto/api`` RichText): http(s) links without trailing punctuation, ``#tags`` that are not
only digits (at most 64 characters), and ``@handles`` that contain a dot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import regex

_URL = regex.compile(r"(?<=^|[\s(])https?://\S+", regex.IGNORECASE)
_TAG = regex.compile(r"(?<=^|\s)[#＃]([^\s\u00ad\u2060\u200a-\u200d\u20e2]+)")
_MENTION = regex.compile(
    r"(?<=^|[\s(])@([a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]+)+)"
)
_TRAILING = regex.compile(r"[\p{P}]+$")
_URL_TRAILING = regex.compile(r"[.,;:!?\"')\]]+$")
MAX_TAG = 64


@dataclass(frozen=True)
class Facet:
    byte_start: int
    byte_end: int
    kind: Literal["link", "tag", "mention"]
    value: str  # the URI, the tag without '#', or the handle without '@'


def _bytes(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def find_facets(text: str) -> list[Facet]:
    """Every link, hashtag and mention in ``text``, in order, with UTF-8 byte offsets."""
    found: list[tuple[int, int, Literal["link", "tag", "mention"], str]] = []
    for match in _URL.finditer(text):
        url = _URL_TRAILING.sub("", match.group(0))
        found.append((match.start(), match.start() + len(url), "link", url))
    links = [(start, end) for start, end, _, _ in found]

    def inside_link(index: int) -> bool:
        return any(start <= index < end for start, end in links)

    for match in _TAG.finditer(text):
        tag = _TRAILING.sub("", match.group(1))
        if not tag or tag.isdigit() or len(tag) > MAX_TAG or inside_link(match.start()):
            continue
        found.append((match.start(), match.start() + 1 + len(tag), "tag", tag))
    for match in _MENTION.finditer(text):
        handle = match.group(1).rstrip(".")
        if inside_link(match.start()):
            continue
        found.append((match.start(), match.start() + 1 + len(handle), "mention", handle))
    found.sort()
    return [
        Facet(_bytes(text, start), _bytes(text, end), kind, value)
        for start, end, kind, value in found
    ]


__all__ = ["Facet", "find_facets"]
