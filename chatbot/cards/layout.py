"""Fitting text into a box: wrap at spaces (or between characters for a word or a script without
spaces), shrink until it fits, never below the template's minimum. Shaping, bidi and
right-to-left text go through Pillow's Raqm layout engine."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont
from PIL import ImageFont

IGNORABLE = {"\u200d", "\u200c", "\ufe0f", "\ufe0e", "\n", " ", "\u00a0"}


class CardFitError(ValueError):
    """The text cannot be laid out in the box; the message says why and what to change."""


class MissingGlyphs(CardFitError):
    """No font of the brand kit can draw some characters of the text."""

    def __init__(self, message: str, missing: list[str]):
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True)
class Fitted:
    size: int
    lines: tuple[str, ...]
    line_height: int
    direction: str
    font_path: Path


@lru_cache(maxsize=64)
def _cmap(path: Path) -> frozenset[int]:
    font = TTFont(str(path), lazy=True)
    try:
        return frozenset(font.getBestCmap() or {})
    finally:
        font.close()


@lru_cache(maxsize=512)
def font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size, layout_engine=ImageFont.Layout.RAQM)


def missing_glyphs(text: str, path: Path) -> list[str]:
    """Characters of ``text`` the font has no glyph for, each once, in the order they come."""
    cmap = _cmap(path)
    return list(dict.fromkeys(c for c in text if c not in IGNORABLE and ord(c) not in cmap))


def choose_font(text: str, primary: Path, fallbacks: tuple[Path, ...]) -> Path:
    """The first font that has every character of ``text``."""
    for candidate in (primary, *fallbacks):
        if not missing_glyphs(text, candidate):
            return candidate
    in_primary = missing_glyphs(text, primary)
    missing = [c for c in in_primary if all(missing_glyphs(c, f) for f in fallbacks)]
    missing = missing or in_primary  # each has a font, but no one font has them all
    shown = ", ".join(f"'{c}' (U+{ord(c):04X})" for c in missing[:5])
    first = " (the first five)" if len(missing) > 5 else ""
    raise MissingGlyphs(
        f"no font of the brand kit can draw {len(missing)} character"
        f"{'s' if len(missing) != 1 else ''} in all: {shown}{first}; add a font that covers "
        "them to fonts.fallbacks in graphics/brand.yaml, or change the text",
        missing,
    )


def direction_of(text: str) -> str:
    for char in text:
        kind = unicodedata.bidirectional(char)
        if kind in ("R", "AL"):
            return "rtl"
        if kind == "L":
            return "ltr"
    return "ltr"


def _tokens(text: str) -> tuple[list[str], str]:
    """Tokens to wrap between, and the string that joins them on a line."""
    words = text.split()
    # Scripts written without spaces (CJK) wrap between characters.
    if len(words) <= 1 and len(text.strip()) > 12 and not text.strip().isascii():
        return list(text.strip()), ""
    return words, " "


def wrap(text: str, face: ImageFont.FreeTypeFont, width: int, direction: str) -> list[str]:
    """Greedy wrap; a token wider than the box is broken between characters."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        tokens, joiner = _tokens(paragraph)
        for token in tokens:
            candidate = f"{current}{joiner}{token}" if current else token
            if face.getlength(candidate, direction=direction) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            if face.getlength(token, direction=direction) <= width:
                current = token
                continue
            piece = ""
            for char in token:
                if face.getlength(piece + char, direction=direction) > width and piece:
                    lines.append(piece)
                    piece = char
                else:
                    piece += char
            current = piece
        lines.append(current)
    return lines


def fit(
    text: str, font_path: Path, width: int, height: int, sizes: tuple[int, int], spacing: float
) -> Fitted:
    """The largest size in ``sizes`` at which ``text`` fits ``width`` x ``height``."""
    direction = direction_of(text)
    low, high = sizes
    best: Fitted | None = None
    while low <= high:
        size = (low + high) // 2
        face = font(font_path, size)
        lines = wrap(text, face, width, direction)
        line_height = round(size * spacing)
        if len(lines) * line_height <= height:
            best = Fitted(size, tuple(lines), line_height, direction, font_path)
            low = size + 1
        else:
            high = size - 1
    if best is None:
        raise CardFitError(
            f"text does not fit even at the template's minimum size {sizes[0]}px "
            f"({len(text)} characters); shorten it or use a template with a larger box"
        )
    return best
