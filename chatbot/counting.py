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

_URLS_ALIAS = "chatbot._twitter_text_urls"


@lru_cache(maxsize=1)
def _url_extractor() -> Callable[[str], list[dict[str, Any]]]:
    """twitter-text's URL extractor, loaded on first use and without the rest of its package.

    The package's ``__init__`` also loads its emoji table, which compiles a very large regex and
    imports pkg_resources (about 0.3 s at every ``check``, ``plan``, ``apply`` and worker start)
    for a part we do not use (emoji come from the ``emoji`` package). Its URL modules import
    each other only relatively, so they are loaded as submodules of a private alias of the
    package's folder; ``import twitter_text`` elsewhere still gets the whole, untouched package.
    """
    import importlib
    import importlib.util
    import sys
    import types

    spec = importlib.util.find_spec("twitter_text")
    if spec is not None and spec.submodule_search_locations:
        if _URLS_ALIAS not in sys.modules:
            alias = types.ModuleType(_URLS_ALIAS)
            alias.__path__ = list(spec.submodule_search_locations)
            sys.modules[_URLS_ALIAS] = alias
        module = importlib.import_module(f"{_URLS_ALIAS}.extract_urls")
        extractor: Callable[[str], list[dict[str, Any]]] = module.extract_urls_with_indices
        return extractor
    with warnings.catch_warnings():  # pragma: no cover - a package without a folder
        warnings.simplefilter("ignore")  # pkg_resources warns on import; not ours
        from twitter_text import extract_urls_with_indices
    return extract_urls_with_indices


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


def graphemes(text: str) -> int:
    return len(_GRAPHEME.findall(text))


def mastodon_length(text: str, url_length: int = 23) -> int:
    """Mastodon's countable length: URLs count ``url_length``, remote mentions count locally."""
    countable = _MASTODON_URL.sub("x" * url_length, text)
    countable = _MASTODON_MENTION.sub(lambda m: "@" + m.group(1), countable)
    return graphemes(countable)


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
