"""X's text rules: twitter-text v3, followed exactly.

URLs are found with the twitter-text URL extractor (the PyPI port, which passes the conformance
cases), emoji with the ``emoji`` package (current Unicode; the port's own emoji table stops at
Unicode 12 and miscounts newer ZWJ sequences), and every other code point is weighted by the v3
ranges. Proven on twitter-text's own ``validate.yml`` (``tests/test_conformance.py``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import emoji as emoji_data
import regex

from chatbot.counting.base import Entity, twitter_text_module


@lru_cache(maxsize=1)
def _url_extractor() -> Callable[[str], list[dict[str, Any]]]:
    extractor: Callable[[str], list[dict[str, Any]]] = twitter_text_module(
        "extract_urls"
    ).extract_urls_with_indices
    return extractor


def extract_urls_with_indices(text: str) -> list[dict[str, Any]]:
    return _url_extractor()(text)


@dataclass(frozen=True)
class WeightRange:
    start: int
    end: int
    weight: int


@dataclass(frozen=True)
class XTextConfig:
    """twitter-text v3 configuration (config/v3.json); weights are scaled by 100."""

    max_weighted_length: int = 280
    scale: int = 100
    default_weight: int = 200
    transformed_url_length: int = 23
    ranges: tuple[WeightRange, ...] = (
        WeightRange(0, 4351, 100),
        WeightRange(8192, 8205, 100),
        WeightRange(8208, 8223, 100),
        WeightRange(8242, 8247, 100),
    )


X_V3 = XTextConfig()
_LINE_ENDINGS = re.compile(r"\r\n|\r|\n")


def _char_weight(char: str, config: XTextConfig) -> int:
    code = ord(char)
    for rng in config.ranges:
        if rng.start <= code <= rng.end:
            return rng.weight
    return config.default_weight


@lru_cache(maxsize=4096)
def x_weighted_length(text: str, config: XTextConfig = X_V3) -> int:
    """twitter-text v3 ``weightedLength`` of ``text``."""
    normalized = _LINE_ENDINGS.sub("\n", unicodedata.normalize("NFC", text))
    spans: dict[int, tuple[int, int]] = {}
    for url in extract_urls_with_indices(normalized):
        start, end = url["indices"]
        spans[start] = (end, config.transformed_url_length * config.scale)
    if normalized.isascii() and config.ranges[0].start == 0 and config.ranges[0].end >= 127:
        # No emoji is ASCII and every ASCII character weighs the first range's weight: the
        # common case, without tokenising the text for emoji (most of the cost at 10,000 posts).
        covered = sum(end - start for start, (end, _) in spans.items())
        weight = config.ranges[0].weight
        urls = len(spans) * config.transformed_url_length * config.scale
        return ((len(normalized) - covered) * weight + urls) // config.scale
    for found in emoji_data.emoji_list(normalized):
        start = found["match_start"]
        if start not in spans:
            spans[start] = (found["match_end"], config.default_weight)
    total = 0
    index = 0
    while index < len(normalized):
        span = spans.get(index)
        if span is not None:
            index, weight = span
            total += weight
            continue
        total += _char_weight(normalized[index], config)
        index += 1
    return total // config.scale


# twitter-text's invalid characters: a post holding one is not a valid post.
X_INVALID_CHARACTERS = frozenset("\ufffe\ufeff\uffff")


def x_invalid_characters(text: str) -> list[str]:
    """The characters of ``text`` that make it an invalid post for X, in order, once each."""
    return list(dict.fromkeys(char for char in text if char in X_INVALID_CHARACTERS))


def urls_in(text: str) -> list[str]:
    """The URLs X would link in ``text`` (with or without a scheme)."""
    return list(_urls_in(text))


@lru_cache(maxsize=32_768)
def _urls_in(text: str) -> tuple[str, ...]:
    # Cached: a review asks for the links of one text from several rules (cost, tracking,
    # near-duplicates, previews), and a blast has tens of thousands of texts.
    normalized = unicodedata.normalize("NFC", text)
    return tuple(str(url["url"]) for url in extract_urls_with_indices(normalized))


HASHTAG = regex.compile(r"(?<![\w#＃&])[#＃](\w*\p{L}\w*)", regex.UNICODE)
MENTION = regex.compile(r"(?<![\w@＠])[@＠](\w{1,15})(?:@[\w.-]+\w)?", regex.UNICODE)


def hashtags_in(text: str) -> list[str]:
    return [m.group(1) for m in HASHTAG.finditer(text)]


def mentions_in(text: str) -> list[str]:
    return [m.group(1) for m in MENTION.finditer(text)]


def x_entities(text: str) -> list[Entity]:
    """What X links in ``text``: URLs (with or without a scheme), hashtags and mentions."""
    found: list[Entity] = []
    for url in extract_urls_with_indices(text):
        start, end = url["indices"]
        uri = str(url["url"])
        found.append(Entity(start, end, "link", uri if "://" in uri else f"https://{uri}"))
    for kind, pattern in (("tag", HASHTAG), ("mention", MENTION)):
        for match in pattern.finditer(text):
            start, end = match.span()
            if not any(e.start < end and start < e.end for e in found):
                found.append(Entity(start, end, kind, match.group(1)))  # type: ignore[arg-type]
    return sorted(found, key=lambda e: e.start)
