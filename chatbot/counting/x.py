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


@lru_cache(maxsize=1)
def _prefilters() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """twitter-text's whitespace (no part of a URL is one of them) and its top-level domains
    (every URL has one, followed by a character that ends it)."""
    spaces = twitter_text_module("regexp.spaces_group").spaces_group
    tlds = "|".join(
        getattr(twitter_text_module(f"regexp.{name}"), name).pattern
        for name in ("valid_gtld", "valid_cctld", "valid_punycode")
    )
    return re.compile(f"[^{spaces}]+"), re.compile(tlds, re.IGNORECASE)


def extract_urls_with_indices(text: str) -> list[dict[str, Any]]:
    """twitter-text's URLs of ``text``, found run by run between spaces.

    The port's one regex restarts at every character and scans to the end of a dotted run
    ("a.a.a…" takes 5.8 s at 2,000 characters): since no URL holds a space, each run is
    searched alone with the space before it (the same result), and a run with no top-level
    domain in it cannot hold a URL at all.
    """
    if "." not in text:
        return []
    extract = _url_extractor()
    runs, tld = _prefilters()
    found: list[dict[str, Any]] = []
    for run in runs.finditer(text):
        if "." not in run.group(0) or tld.search(run.group(0)) is None:
            continue
        # With the space before it: the pattern's "preceding character" must be that space,
        # or it would take the run's own first character for it.
        offset = max(run.start() - 1, 0)
        piece = text[offset : run.end()]
        for url in extract(piece):
            start, end = url["indices"]
            found.append({"url": url["url"], "indices": [start + offset, end + offset]})
    return found


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
_LATIN_ACCENTS = (
    "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259"
    "\u025b\u0263\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_X_MENTION = regex.compile(
    r"(^|[^a-zA-Z0-9_!#$%&*@＠]|(?:^|[^a-zA-Z0-9_+~.-])[rR][tT]:?)([@＠])([a-zA-Z0-9_]{1,20})"
    r"(/[a-zA-Z][a-zA-Z0-9_-]{0,24})?",
    regex.V0,
)
_X_END_MENTION = regex.compile(rf"[@＠]|[{_LATIN_ACCENTS}]|://")


def x_hashtags(text: str, urls: list[dict[str, Any]] | None = None) -> list[tuple[int, int, str]]:
    """(start, end, tag) of each hashtag X links, tags inside URLs excepted (``urls``: the
    text's URLs, if the caller has them already)."""
    found = []
    for match in _X_HASHTAG.finditer(text):
        if _X_END_HASHTAG.match(text, match.end()):
            continue
        start = match.start(2)
        found.append((start, match.end(3), match.group(3)))
    if not found:
        return found
    spans = [tuple(u["indices"]) for u in (urls if urls is not None else _x_urls(text))]
    return [t for t in found if not any(s < t[1] and t[0] < e for s, e in spans)]


@lru_cache(maxsize=4096)
def _x_urls_cached(text: str) -> tuple[tuple[int, int, str], ...]:
    return tuple(
        (int(u["indices"][0]), int(u["indices"][1]), str(u["url"]))
        for u in extract_urls_with_indices(text)
    )


def _x_urls(text: str) -> list[dict[str, Any]]:
    """The URLs of ``text`` (cached: the extractor is quadratic on long dotted runs)."""
    return [{"indices": [s, e], "url": u} for s, e, u in _x_urls_cached(text)]


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
    found: list[Entity] = []
    urls = _x_urls(text)
    for url in urls:
        start, end = url["indices"]
        uri = str(url["url"])
        found.append(Entity(start, end, "link", uri if "://" in uri else f"https://{uri}"))
    found += [Entity(s, e, "tag", t) for s, e, t in x_hashtags(text, urls)]
    found += [Entity(s, e, "mention", m) for s, e, m in x_mentions(text)]
    kept: list[Entity] = []
    for entity in sorted(found, key=lambda e: e.start):
        if not kept or kept[-1].end <= entity.start:
            kept.append(entity)
    return kept
