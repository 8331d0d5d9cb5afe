"""Bluesky's text rules: grapheme lengths, and rich-text facets as the official app makes them.

Bluesky shows a link, a hashtag or a mention as clickable only when the record carries a facet
for it, and facet offsets count UTF-8 *bytes*, not characters: an emoji or an accented letter
before a link moves every offset after it. The official app builds a post's facets with
``RichText.detectFacets`` from ``@atproto/api``; this is that function, pattern for pattern
(``packages/api/src/rich-text/detection.ts`` and ``util.ts``), and it is proven on that
package's own test tables in ``tests/test_conformance.py``:

- mentions: ``@`` after the start, a space or ``(``, a handle whose last label is a known
  top-level domain (or ``.test``); the publisher resolves each to its DID;
- links: ``http(s)://`` up to the next space, and bare domains with a known top-level domain
  (linked as ``https://``); one trailing ``.,;:!?`` is cut, and a ``)`` when the link holds
  no ``(``;
- hashtags: ``#`` or ``＃`` after the start or a space, not followed by the emoji variation
  selector (a keycap ``#️⃣`` is no tag), with something other than digits and punctuation,
  trailing punctuation cut, at most 64 UTF-16 code units.

JavaScript's ``\\s`` and ``\\b`` differ from Python's; they are spelled out below so that the
patterns match exactly what the app's do.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

from chatbot.counting.base import Entity, EntityKind, known_tlds, utf16_length

# JavaScript's \s (WhiteSpace and LineTerminator), and its ASCII \w for \b.
_JS_SPACE = "\t\n\u000b\u000c\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_JS_WORD = "A-Za-z0-9_"
_JS_BOUNDARY = rf"(?:(?<=[{_JS_WORD}])(?![{_JS_WORD}])|(?<![{_JS_WORD}])(?=[{_JS_WORD}]))"
_LEAD = rf"(?:^|(?<=[{_JS_SPACE}(]))"

_MENTION = regex.compile(rf"{_LEAD}@([a-zA-Z0-9.-]+){_JS_BOUNDARY}", regex.MULTILINE)
_URL = regex.compile(
    rf"{_LEAD}((https?://[^{_JS_SPACE}]+)|((?P<domain>[a-z][a-z0-9]*(\.[a-z0-9]+)+)[^{_JS_SPACE}]*))",
    regex.IGNORECASE | regex.MULTILINE,
)
_ZERO_WIDTH = "\u00ad\u2060\u200a\u200b\u200c\u200d\u20e2"
_TAG = regex.compile(
    rf"(?:^|(?<=[{_JS_SPACE}]))[#＃]"
    rf"((?!\ufe0f)[^{_JS_SPACE}{_ZERO_WIDTH}]*[^0-9{_JS_SPACE}\p{{P}}{_ZERO_WIDTH}]+"
    rf"[^{_JS_SPACE}{_ZERO_WIDTH}]*)?",
    regex.MULTILINE,
)
_TRAILING_PUNCTUATION = regex.compile(r"\p{P}+$")
_LINK_TRAILING = regex.compile(r"[.,;:!?]$")
MAX_TAG = 64  # UTF-16 code units, as the app measures


@dataclass(frozen=True)
class Facet:
    byte_start: int
    byte_end: int
    kind: EntityKind
    value: str  # the URI, the tag without '#', or the handle without '@'


def _valid_domain(domain: str) -> bool:
    """``isValidDomain``: the last label is a known top-level domain."""
    head, dot, tld = domain.rpartition(".")
    return bool(head) and bool(dot) and tld.lower() in known_tlds()


def bluesky_entities(text: str) -> list[Entity]:
    """Every mention, link and hashtag the official app would facet in ``text``, by start."""
    found: list[Entity] = []
    for match in _MENTION.finditer(text):
        handle = match.group(1)
        if not _valid_domain(handle) and not handle.endswith(".test"):
            continue  # probably not a handle
        found.append(Entity(match.start(), match.end(), "mention", handle))
    for match in _URL.finditer(text):
        uri = match.group(1)
        start, end = match.span(1)
        if not uri.lower().startswith("http"):
            domain = match.group("domain")
            if not domain or not _valid_domain(domain):
                continue
            uri = f"https://{uri}"
        if _LINK_TRAILING.search(uri):
            uri, end = uri[:-1], end - 1
        if uri.endswith(")") and "(" not in uri:
            uri, end = uri[:-1], end - 1
        found.append(Entity(start, end, "link", uri))
    for match in _TAG.finditer(text):
        tag = match.group(1)
        if not tag:
            continue
        tag = _TRAILING_PUNCTUATION.sub("", tag.strip(_JS_SPACE))
        if not tag or utf16_length(tag) > MAX_TAG:
            continue
        found.append(Entity(match.start(), match.start() + 1 + len(tag), "tag", tag))
    return sorted(found, key=lambda e: e.start)


def find_facets(text: str) -> list[Facet]:
    """``bluesky_entities`` with UTF-8 byte offsets, as a record's facets carry them."""

    def byte(index: int) -> int:
        return len(text[:index].encode("utf-8"))

    return [
        Facet(byte(entity.start), byte(entity.end), entity.kind, entity.value)
        for entity in bluesky_entities(text)
    ]


__all__ = ["Facet", "bluesky_entities", "find_facets"]
