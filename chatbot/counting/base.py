"""What every platform's text rules share: grapheme counting and the entities a platform links."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from dataclasses import dataclass
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


def _ascii_tlds() -> frozenset[str]:
    """The top-level domains twitter-text knows (IANA's list, generic and country codes),
    ASCII ones only: a bare domain is linked only when its last label is one of them."""
    names: set[str] = set()
    for module, attribute in (("valid_gtld", "valid_gtld"), ("valid_cctld", "valid_cctld")):
        pattern: str = getattr(twitter_text_module(f"regexp.{module}"), attribute).pattern
        inner = pattern[pattern.index("(?:(?:") + 6 : pattern.rindex(")(?=")]
        names.update(name for name in inner.split("|") if name.isascii())
    return frozenset(names)


_TLDS: frozenset[str] | None = None


def known_tlds() -> frozenset[str]:
    global _TLDS
    if _TLDS is None:
        _TLDS = _ascii_tlds()
    return _TLDS


__all__ = ["Entity", "EntityKind", "graphemes", "known_tlds", "twitter_text_module", "utf16_length"]
