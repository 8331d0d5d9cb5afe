"""Fitting text into a box: wrap at spaces (or between characters for a word or a script without
spaces), shrink until it fits, never below the template's minimum. Shaping, bidi and
right-to-left text go through Pillow's Raqm layout engine."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from chatbot.cards.fonts import CardFitError, FontChain, MissingGlyphs, clusters


@dataclass(frozen=True)
class Fitted:
    size: int
    lines: tuple[str, ...]
    line_height: int
    direction: str
    chain: FontChain


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
    # Scripts written without spaces (CJK) wrap between characters (grapheme clusters, so an
    # emoji sequence or a flag is never split).
    if len(words) <= 1 and len(text.strip()) > 12 and not text.strip().isascii():
        return clusters(text.strip()), ""
    return words, " "


def wrap(text: str, chain: FontChain, size: int, width: int, direction: str) -> list[str]:
    """Greedy wrap; a token wider than the box is broken between grapheme clusters."""

    def length(piece: str) -> float:
        return chain.length(piece, size, direction)

    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        tokens, joiner = _tokens(paragraph)
        for token in tokens:
            candidate = f"{current}{joiner}{token}" if current else token
            if length(candidate) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
            if length(token) <= width:
                current = token
                continue
            piece = ""
            for cluster in clusters(token):
                if length(piece + cluster) > width and piece:
                    lines.append(piece)
                    piece = cluster
                else:
                    piece += cluster
            current = piece
        lines.append(current)
    return lines


def fit(
    text: str, chain: FontChain, width: int, height: int, sizes: tuple[int, int], spacing: float
) -> Fitted:
    """The largest size in ``sizes`` at which ``text`` fits ``width`` x ``height``; raises
    MissingGlyphs first if no font of the chain can draw some of it."""
    chain.check(text)
    direction = direction_of(text)
    low, high = sizes
    best: Fitted | None = None
    while low <= high:
        size = (low + high) // 2
        lines = wrap(text, chain, size, width, direction)
        line_height = round(size * spacing)
        if len(lines) * line_height <= height:
            best = Fitted(size, tuple(lines), line_height, direction, chain)
            low = size + 1
        else:
            high = size - 1
    if best is None:
        raise CardFitError(
            f"text does not fit even at the template's minimum size {sizes[0]}px "
            f"({len(text)} characters); shorten it or use a template with a larger box"
        )
    return best


__all__ = ["CardFitError", "Fitted", "MissingGlyphs", "direction_of", "fit", "wrap"]
