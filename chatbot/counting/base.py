"""What every platform's text rules share: grapheme counting and the entities a platform links."""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import regex

_URLS_ALIAS = "chatbot._twitter_text_urls"


def twitter_text_module(name: str) -> types.ModuleType:
    """A module of twitter-text (``extract_urls``, ``regexp.valid_gtld`` ...), loaded without
    the rest of its package.

    The package's ``__init__`` also loads its emoji table, which compiles a very large regex and
    imports pkg_resources (about 0.3 s at every ``check``, ``plan``, ``apply`` and worker start)
    for a part we do not use (emoji come from the ``emoji`` package). Its URL modules import
    each other only relatively, so they are loaded as submodules of a private alias of the
    package's folder; ``import twitter_text`` elsewhere still gets the whole, untouched package.
    """
    if _URLS_ALIAS not in sys.modules:
        spec = importlib.util.find_spec("twitter_text")
        if spec is None or not spec.submodule_search_locations:  # pragma: no cover
            raise ImportError("twitter-text-parser is not installed as a package folder")
        alias = types.ModuleType(_URLS_ALIAS)
        alias.__path__ = list(spec.submodule_search_locations)
        sys.modules[_URLS_ALIAS] = alias
    return importlib.import_module(f"{_URLS_ALIAS}.{name}")


EntityKind = Literal["link", "tag", "mention"]
_GRAPHEME = regex.compile(r"\X")


@dataclass(frozen=True)
class Entity:
    """A part of a post that a platform shows as a link: where it is (code point offsets into
    the text), what it is, and what it points to (the URI, the tag without ``#``, or the
    handle without ``@``)."""

    start: int
    end: int
    kind: EntityKind
    value: str


def graphemes(text: str) -> int:
    """User-perceived characters (extended grapheme clusters, current Unicode)."""
    if text.isascii():  # every ASCII character is a cluster of its own, but CR LF is one
        return len(text) - text.count("\r\n")
    return len(_GRAPHEME.findall(text))


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, which is what JavaScript's ``String.length`` counts."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


# twitter-text's latin_accent_chars: a mention followed by one is no mention (X, Mastodon).
LATIN_ACCENTS = (
    "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259"
    "\u025b\u0263\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)


@lru_cache(maxsize=1)
def known_tlds() -> frozenset[str]:
    """The top-level domains twitter-text knows (IANA's list, generic and country codes),
    ASCII ones only: a bare domain is linked only when its last label is one of them."""
    names: set[str] = set()
    for module in ("valid_gtld", "valid_cctld"):
        pattern: str = getattr(twitter_text_module(f"regexp.{module}"), module).pattern
        inner = pattern[pattern.index("(?:(?:") + 6 : pattern.rindex(")(?=")]
        names.update(name for name in inner.split("|") if name.isascii())
    return frozenset(names)


@lru_cache(maxsize=1)
def tld_pattern() -> re.Pattern[str]:
    """twitter-text's top-level domains (generic, country, punycode), each followed by a
    character that ends a domain: every URL holds one."""
    return re.compile(
        "|".join(
            getattr(twitter_text_module(f"regexp.{name}"), name).pattern
            for name in ("valid_gtld", "valid_cctld", "valid_punycode")
        ),
        re.IGNORECASE,
    )


def url_runs(text: str, runs: re.Pattern[str], needle: str) -> Iterator[tuple[int, str]]:
    """``(offset, piece)`` for each run of ``text`` that ``runs`` matches (the characters no
    part of a URL may hold lie between them) and that may hold a URL: it has ``needle`` and a
    top-level domain. The piece starts with the character before the run, so a URL pattern
    sees the same preceding character as in the whole text; a URL found at ``i`` in the piece
    is at ``offset + i`` in the text.

    URL patterns restart at every character and scan to the end of a dotted run ("a.a.a…"
    takes seconds at a few thousand characters); searched run by run, with runs that cannot
    hold a URL skipped, they find the same URLs in a fraction of the time."""
    for run in runs.finditer(text):
        if needle not in run.group(0) or tld_pattern().search(run.group(0)) is None:
            continue
        offset = max(run.start() - 1, 0)
        yield offset, text[offset : run.end()]


def without_overlaps(entities: Iterable[Entity]) -> list[Entity]:
    """twitter-text's ``remove_overlapping_entities``: by start, each one that overlaps the last
    one kept is dropped."""
    kept: list[Entity] = []
    for entity in sorted(entities, key=lambda e: e.start):
        if kept and kept[-1].end > entity.start:
            continue
        kept.append(entity)
    return kept


__all__ = [
    "LATIN_ACCENTS",
    "Entity",
    "EntityKind",
    "graphemes",
    "known_tlds",
    "tld_pattern",
    "twitter_text_module",
    "url_runs",
    "utf16_length",
    "without_overlaps",
]
