"""Counting and finding things in post text, the way each platform does it.

The counting rules are here, below everything that needs them (publishers check lengths
before sending); which rule a platform uses is the platform registry's business
(``chatbot.platforms``), and ``chatbot.text.weighted_length`` asks it.

X: twitter-text v3, followed exactly. URLs are found with the twitter-text URL extractor (the PyPI
port, which passes the conformance cases), emoji with the ``emoji`` package (current Unicode; the
port's own emoji table stops at Unicode 12 and miscounts newer ZWJ sequences), and every other
code point is weighted by the v3 ranges.

Mastodon: grapheme clusters, every http(s) URL counts 23, ``@user@domain`` counts as ``@user``.
Bluesky: grapheme clusters, nothing discounted.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import emoji as emoji_data
import regex


@lru_cache(maxsize=1)
def _url_extractor() -> Callable[[str], list[dict[str, Any]]]:
    """twitter-text's URL extractor, imported on first use: the package builds a large emoji
    regex and imports pkg_resources at import time (~0.4 s), which every CLI call would pay."""
    with warnings.catch_warnings():
        # pkg_resources warns on import; the warning is not ours.
        warnings.simplefilter("ignore")
        from twitter_text import extract_urls_with_indices
    extractor: Callable[[str], list[dict[str, Any]]] = extract_urls_with_indices
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
_MASTODON_URL = regex.compile(r"https?://[^\s<>\"]+", regex.IGNORECASE)
_MASTODON_MENTION = regex.compile(r"(?<![\w@])@(\w+)@[\w.-]+\w", regex.UNICODE)
_GRAPHEME = regex.compile(r"\X")


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


def graphemes(text: str) -> int:
    return len(_GRAPHEME.findall(text))


def mastodon_length(text: str, url_length: int = 23) -> int:
    """Mastodon's countable length: URLs count ``url_length``, remote mentions count locally."""
    countable = _MASTODON_URL.sub("x" * url_length, text)
    countable = _MASTODON_MENTION.sub(lambda m: "@" + m.group(1), countable)
    return graphemes(countable)


def urls_in(text: str) -> list[str]:
    """The URLs X would link in ``text`` (with or without a scheme)."""
    normalized = unicodedata.normalize("NFC", text)
    return [str(url["url"]) for url in extract_urls_with_indices(normalized)]


HASHTAG = regex.compile(r"(?<![\w#＃&])[#＃](\w*\p{L}\w*)", regex.UNICODE)
MENTION = regex.compile(r"(?<![\w@＠])[@＠](\w{1,15})(?:@[\w.-]+\w)?", regex.UNICODE)


def hashtags_in(text: str) -> list[str]:
    return [m.group(1) for m in HASHTAG.finditer(text)]


def mentions_in(text: str) -> list[str]:
    return [m.group(1) for m in MENTION.finditer(text)]
