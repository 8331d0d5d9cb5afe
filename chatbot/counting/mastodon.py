"""Mastodon's text rules, as its server applies them.

``StatusLengthValidator#countable_text`` (mastodon/mastodon, app/validators): every URL that
``Extractor.extract_urls_with_indices(text, extract_url_without_protocol: false)`` finds counts
23 characters (``URL_PLACEHOLDER``), every mention that ``Extractor.extract_mentions_or_lists_
with_indices`` finds counts as ``@`` and its username (a remote mention whose domain is longer
than 253 characters is no mention), and the result counts grapheme clusters.

The extractor is twitter-text's, with the URL patterns Mastodon patches in
``config/initializers/twitter_regex.rb``: any non-space character in a path (so Japanese,
Korean or Chinese paths stay in the URL), a trailing ``@``, a query with any non-ASCII
character, and more schemes than http(s). The domain, port and preceding-character patterns are
twitter-text's own, taken from its PyPI port. Proven on the Mastodon team's own spec cases in
``tests/test_conformance.py``.

The same entities are what Mastodon's formatter links (the validator gives "length concessions
to entities that will be correctly parsed during formatting"), so the preview uses them too.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import regex

from chatbot.counting.base import (
    LATIN_ACCENTS,
    Entity,
    graphemes,
    twitter_text_module,
    url_runs,
    without_overlaps,
)

URL_PLACEHOLDER_LENGTH = 23
MAX_URL_LENGTH = 4096  # twitter-text's Extractor::MAX_URL_LENGTH
MAX_DOMAIN_LENGTH = 253  # Mastodon's Extractor::MAX_DOMAIN_LENGTH
MAX_TCO_SLUG_LENGTH = 40

# Mastodon's UCHARS: the non-ASCII code points a query may hold (RFC 3987's ucschar, iprivate).
_UCHARS = (
    "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef"
    + "".join(
        f"\\U{plane:08x}-\\U{plane + 0xFFFD:08x}" for plane in range(0x10000, 0xE0000, 0x10000)
    )
    + "\\U000e1000-\\U000efffd\ue000-\uf8ff\\U000f0000-\\U000ffffd\\U00100000-\\U0010fffd"
)
# Unicode's White_Space, spelled out: the URL pattern runs on the standard library's ``re``
# (three times faster than ``regex`` on it), which has no \p{...}.
_WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_GENERAL_PATH = rf"[^{_WHITE_SPACE}<>()?]"
_BALANCED_PARENS = (
    rf"\((?:{_GENERAL_PATH}+|(?:{_GENERAL_PATH}*\({_GENERAL_PATH}+\){_GENERAL_PATH}*))\)"
)
_QUERY = rf"[a-z0-9!?*'();:&=+$/%#\[\]\-_.,~|@\^{_UCHARS}]"
_QUERY_END = rf"[a-z0-9_&=#/\-{_UCHARS}]"
_PROTOCOL = r"(?:https?|dat|dweb|ipfs|ipns|ssb|gopher|gemini)://"

# Account::MENTION_RE (current Mastodon), then twitter-text's end_mention_match.
_MENTION = regex.compile(
    r"(?<![=/\w])@(([a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)(?:@[\w.-]+\w)?)",
    regex.IGNORECASE | regex.V0,
)
_END_MENTION = regex.compile(rf"(?:[@＠]|[{LATIN_ACCENTS}]|://)")

# Tag::HASHTAG_RE, for the preview (hashtags cost nothing in the count).
_SEPARATORS = "_\u00b7\u30fb\u200c"
_HASHTAG = regex.compile(
    r"(?<![=/)\p{Alnum}])[#＃]("
    rf"(?:[\w_][\w{_SEPARATORS}]*[\p{{Alpha}}{_SEPARATORS}][\w{_SEPARATORS}]*[\w_])"
    r"|(?:[\w_]*\p{Alpha}[\w_]*))",
    regex.IGNORECASE | regex.V0,
)


@lru_cache(maxsize=1)
def _url_pattern() -> re.Pattern[str]:
    """twitter-text's ``valid_url`` with Mastodon's path and query patterns."""

    def part(name: str) -> str:
        pattern: str = getattr(twitter_text_module(f"regexp.{name}"), name).pattern
        return pattern

    # Ruby interpolates when a pattern is defined, and Mastodon redefines the ending characters
    # before the balanced parentheses: their parenthesised alternative is twitter-text's own.
    ending = (
        rf"[^{_WHITE_SPACE}()?!*\"'「」<>;:=,.$%\[\]~&|]"
        rf"|(?:{part('valid_url_balanced_parens')})"
    )
    path = (
        rf"(?:(?:{_GENERAL_PATH}*(?:{_BALANCED_PARENS}{_GENERAL_PATH}*)*(?:{ending}))"
        rf"|(?:{_GENERAL_PATH}+/))"
    )
    return re.compile(
        rf"(({part('valid_url_preceding_chars')})"
        rf"(({_PROTOCOL})?({part('valid_domain')})(?::({part('valid_port_number')}))?"
        rf"(/{path}*)?(\?{_QUERY}*{_QUERY_END})?))",
        re.IGNORECASE,
    )


@lru_cache(maxsize=1)
def _tco_pattern() -> re.Pattern[str]:
    return re.compile(r"^https?://t\.co/([a-z0-9]+)", re.IGNORECASE)


def _valid_domain(url_length: int, domain: str) -> bool:
    """twitter-text's ``is_valid_domain``: the URL, its domain in punycode, fits 4,096."""
    try:
        encoded = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return url_length + max(0, len(encoded) - len(domain)) <= MAX_URL_LENGTH


def _matches(text: str, offset: int = 0) -> list[Entity]:
    """Every URL with a scheme the pattern finds in ``text`` (its indices moved by ``offset``)."""
    found: list[Entity] = []
    for match in _url_pattern().finditer(text):
        url, protocol, domain = match.group(3), match.group(4), match.group(5)
        if not protocol:
            continue
        start, end = match.span(3)
        tco = _tco_pattern().match(url)
        if tco:
            if len(tco.group(1)) > MAX_TCO_SLUG_LENGTH:
                continue
            url = tco.group(0)
            end = start + len(url)
        if not _valid_domain(end - start, domain):
            continue
        found.append(Entity(start + offset, end + offset, "link", url))
    return found


# The spaces no part of a URL may hold: a query may hold any non-ASCII character (Mastodon's
# UCHARS), the full-width and no-break spaces included.
_RUNS = re.compile(r"[^\x09-\x0d\x20\x85]+")


def _urls(text: str) -> list[Entity]:
    """URLs with a scheme, as ``extract_urls_with_indices(text, extract_url_without_protocol:
    false)`` finds them: searched run by run (``url_runs``), in runs with ``://``."""
    if ":" not in text:
        return []
    return [
        url for offset, piece in url_runs(text, _RUNS, "://") for url in _matches(piece, offset)
    ]


def _mentions(text: str) -> list[Entity]:
    if "@" not in text and "＠" not in text:
        return []
    found: list[Entity] = []
    for match in _MENTION.finditer(text):
        if _END_MENTION.match(text, match.end()):
            continue
        screen_name = match.group(1)
        _, _, domain = screen_name.partition("@")
        if len(domain) > MAX_DOMAIN_LENGTH:
            continue
        found.append(Entity(match.start(1) - 1, match.end(1), "mention", screen_name))
    return found


@lru_cache(maxsize=32_768)
def _counted(text: str) -> tuple[Entity, ...]:
    return tuple(without_overlaps(_urls(text) + _mentions(text)))


def countable_text(text: str, url_length: int = URL_PLACEHOLDER_LENGTH) -> str:
    """The text Mastodon counts: URLs replaced by ``url_length`` characters, remote mentions by
    ``@username``."""
    out: list[str] = []
    last = 0
    for entity in _counted(text):
        out.append(text[last : entity.start])
        if entity.kind == "link":
            out.append("x" * url_length)
        else:
            out.append("@" + entity.value.split("@", 1)[0])
        last = entity.end
    out.append(text[last:])
    return "".join(out)


def mastodon_length(text: str, url_length: int = URL_PLACEHOLDER_LENGTH) -> int:
    """Mastodon's countable length of ``text`` (``url_length`` is the instance's
    ``characters_reserved_per_url``)."""
    if not text:
        return 0
    return graphemes(countable_text(text, url_length))


def mastodon_entities(text: str) -> list[Entity]:
    """What Mastodon links in ``text``: the counted URLs and mentions, and hashtags."""
    found: list[Any] = list(_counted(text))
    for match in _HASHTAG.finditer(text):
        start, end = match.span()
        if not any(e.start < end and start < e.end for e in found):
            found.append(Entity(start, end, "tag", match.group(1)))
    return sorted(found, key=lambda e: e.start)


__all__ = ["countable_text", "mastodon_entities", "mastodon_length"]
