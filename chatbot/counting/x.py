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

import regex

from chatbot.counting.base import (
    LATIN_ACCENTS,
    Entity,
    twitter_text_module,
    url_runs,
    without_overlaps,
)


@lru_cache(maxsize=1)
def _url_extractor() -> Callable[[str], list[dict[str, Any]]]:
    extractor: Callable[[str], list[dict[str, Any]]] = twitter_text_module(
        "extract_urls"
    ).extract_urls_with_indices
    return extractor


@lru_cache(maxsize=1)
def _runs() -> re.Pattern[str]:
    """Runs between twitter-text's spaces: no part of a URL is one of them."""
    return re.compile(f"[^{twitter_text_module('regexp.spaces_group').spaces_group}]+")


def extract_urls_with_indices(text: str) -> list[dict[str, Any]]:
    """twitter-text's URLs of ``text``, found run by run (``url_runs``): the port's one
    pattern over the whole text takes 5.8 s on 2,000 characters of "a.a.a…"."""
    if "." not in text:
        return []
    extract = _url_extractor()
    found: list[dict[str, Any]] = []
    for offset, piece in url_runs(text, _runs(), "."):
        for url in extract(piece):
            start, end = url["indices"]
            found.append({"url": url["url"], "indices": [start + offset, end + offset]})
    return found


@lru_cache(maxsize=32_768)
def _url_spans(text: str) -> tuple[tuple[int, int, str], ...]:
    """``(start, end, url)`` of each URL of ``text``, cached: a review asks for the links of
    one text from several rules (cost, tracking, near-duplicates, previews), and a blast has
    tens of thousands of texts."""
    return tuple(
        (int(u["indices"][0]), int(u["indices"][1]), str(u["url"]))
        for u in extract_urls_with_indices(text)
    )


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
    for start, end, _ in _url_spans(normalized):  # shared with urls_in: one extraction
        spans[start] = (end, config.transformed_url_length * config.scale)
    if normalized.isascii() and config.ranges[0].start == 0 and config.ranges[0].end >= 127:
        # No emoji is ASCII and every ASCII character weighs the first range's weight: the
        # common case, without tokenising the text for emoji (most of the cost at 10,000 posts).
        covered = sum(end - start for start, (end, _) in spans.items())
        weight = config.ranges[0].weight
        urls = len(spans) * config.transformed_url_length * config.scale
        return ((len(normalized) - covered) * weight + urls) // config.scale
    import emoji as emoji_data  # 40 ms to load: only a text that is not all ASCII needs it

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


_X_INVALID = re.compile(f"[{''.join(sorted(X_INVALID_CHARACTERS))}]")


def x_invalid_characters(text: str) -> list[str]:
    """The characters of ``text`` that make it an invalid post for X, in order, once each."""
    # Found in C: the review asks this of every post of a blast (a loop in Python over every
    # character took a tenth of a 10,000-post review).
    return list(dict.fromkeys(_X_INVALID.findall(text)))


def urls_in(text: str) -> list[str]:
    """The URLs X would link in ``text`` (with or without a scheme)."""
    return [url for _, _, url in _url_spans(unicodedata.normalize("NFC", text))]


HASHTAG = regex.compile(r"(?<![\w#＃&])[#＃](\w*\p{L}\w*)", regex.UNICODE)
MENTION = regex.compile(r"(?<![\w@＠])[@＠](\w{1,15})(?:@[\w.-]+\w)?", regex.UNICODE)


def hashtags_in(text: str) -> list[str]:
    return [m.group(1) for m in HASHTAG.finditer(text)]


def mentions_in(text: str) -> list[str]:
    return [m.group(1) for m in MENTION.finditer(text)]


# twitter-text's hashtag and mention extraction (its validHashtag, validMentionOrList and their
# end-match rules), proven on its extract.yml: what X links in a post, for the preview.
_TAG_SPECIAL = (
    "_\u200c\u200d\ua67e\u05be\u05f3\u05f4\uff5e\u301c\u309b\u309c\u30a0\u30fb\u3003"
    "\u0f0b\u0f0c\u00b7"
)
_TAG_ALNUM = rf"[\p{{L}}\p{{M}}\p{{Nd}}{_TAG_SPECIAL}]"
_X_HASHTAG = regex.compile(
    rf"(^|\ufe0e|\ufe0f|$|(?!{_TAG_ALNUM}|&).)([#＃])(?![\ufe0f\u20e3])"
    rf"({_TAG_ALNUM}*[\p{{L}}\p{{M}}]{_TAG_ALNUM}*)",
    regex.IGNORECASE | regex.DOTALL | regex.V0,  # twitter-text's codePoint matches a newline
)
_X_END_HASHTAG = regex.compile(r"[#＃]|://")
_X_MENTION = regex.compile(
    r"(^|[^a-zA-Z0-9_!#$%&*@＠]|(?:^|[^a-zA-Z0-9_+~.-])[rR][tT]:?)([@＠])([a-zA-Z0-9_]{1,20})"
    r"(/[a-zA-Z][a-zA-Z0-9_-]{0,24})?",
    regex.V0,
)
_X_END_MENTION = regex.compile(rf"[@＠]|[{LATIN_ACCENTS}]|://")


def x_hashtags(text: str) -> list[tuple[int, int, str]]:
    """(start, end, tag) of each hashtag X links, tags inside URLs excepted."""
    found = []
    for match in _X_HASHTAG.finditer(text):
        if _X_END_HASHTAG.match(text, match.end()):
            continue
        found.append((match.start(2), match.end(3), match.group(3)))
    if not found:
        return found
    urls = _url_spans(text)
    return [t for t in found if not any(s < t[1] and t[0] < e for s, e, _ in urls)]


def x_mentions(text: str, lists: bool = False) -> list[tuple[int, int, str]]:
    """(start, end, screen name) of each @mention X links (``lists``: @user/list too)."""
    found = []
    for match in _X_MENTION.finditer(text):
        if _X_END_MENTION.match(text, match.end()):
            continue
        if match.group(4) and not lists:
            continue
        name = match.group(3) + (match.group(4) or "")
        found.append((match.start(2), match.end(), name))
    return found


def x_entities(text: str) -> list[Entity]:
    """What X links in ``text``: URLs (with or without a scheme), hashtags and mentions; an
    entity overlapping an earlier one is dropped, as twitter-text does."""
    found = [
        Entity(start, end, "link", url if "://" in url else f"https://{url}")
        for start, end, url in _url_spans(text)
    ]
    found += [Entity(s, e, "tag", t) for s, e, t in x_hashtags(text)]
    found += [Entity(s, e, "mention", m) for s, e, m in x_mentions(text)]
    return without_overlaps(found)
