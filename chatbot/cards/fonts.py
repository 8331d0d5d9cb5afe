"""Font fallback for cards: a chain of fonts tried cluster by cluster, colour emoji, and lines
set run by run with their bidi order kept.

A card's text may mix scripts (a Vietnamese question with a Chinese quotation and an emoji):
no one font draws it all. Each grapheme cluster (what a reader sees as one character, an emoji
ZWJ sequence or a flag included) goes to the first font of the chain that has every one of its
characters; a word that one font covers whole stays in that font, so a word is not set in two
fonts for one accented letter. Emoji in emoji presentation go to the colour emoji font first.
Consecutive clusters in one font form a run; each run is shaped by Raqm (ligatures, Arabic
joining) and runs are laid out in visual order by the Unicode bidi rules for levels (a Latin
hashtag stays left to right inside an Arabic sentence).

Colour emoji fonts with bitmap strikes (Noto Color Emoji's CBDT, 109 px) are drawn at their
strike and scaled to the text size; outline and COLR fonts are drawn at the size itself.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import regex
from PIL import Image, ImageDraw, ImageFont

IGNORABLE = frozenset("\u200d\u200c\ufe0f\ufe0e\n \u00a0\u200b\u2060\u00ad")
_CLUSTER = regex.compile(r"\X")
_EMOJI_PRESENTATION = regex.compile(r"\p{Emoji_Presentation}|[\ufe0f\u20e3\U0001f1e6-\U0001f1ff]")


class CardFitError(ValueError):
    """The text cannot be laid out in the box; the message says why and what to change."""


class MissingGlyphs(CardFitError):
    """No font of the brand kit can draw some characters of the text."""

    def __init__(self, message: str, missing: list[str]):
        super().__init__(message)
        self.missing = missing


@dataclass(frozen=True)
class FontFile:
    """One face: a font file, and which face of a collection (``.ttc``) it is."""

    path: Path
    index: int = 0

    @property
    def name(self) -> str:
        return self.path.name + (f"#{self.index}" if self.index else "")


@lru_cache(maxsize=64)
def _read(font: FontFile) -> tuple[frozenset[int], int | None]:
    """The font's character map, and the pixel size of its strike if it is a bitmap colour
    font: one opening of the file for both (a CJK collection is 20 MB)."""
    from fontTools.ttLib import TTFont

    tt = TTFont(str(font.path), lazy=True, fontNumber=font.index)
    try:
        table = frozenset(tt.getBestCmap() or {})
        if "CBLC" in tt:
            sizes = [s.bitmapSizeTable.ppemY for s in tt["CBLC"].strikes]
            return table, max(sizes) if sizes else None
        if "sbix" in tt:
            return table, max(tt["sbix"].strikes) or None
        return table, None
    finally:
        tt.close()


def cmap(font: FontFile) -> frozenset[int]:
    return _read(font)[0]


def strike(font: FontFile) -> int | None:
    """The pixel size of a bitmap colour font's strike (it draws at no other), else None."""
    return _read(font)[1]


@lru_cache(maxsize=512)
def face(font: FontFile, size: int) -> ImageFont.FreeTypeFont:
    """The font at ``size`` (a bitmap colour font at its strike: scale what it draws)."""
    drawn = strike(font) or size
    return ImageFont.truetype(
        str(font.path), drawn, index=font.index, layout_engine=ImageFont.Layout.RAQM
    )


def covers(font: FontFile, text: str) -> bool:
    table = cmap(font)
    return all(ord(c) in table for c in text if c not in IGNORABLE)


def clusters(text: str) -> list[str]:
    return _CLUSTER.findall(text)


def is_emoji(cluster: str) -> bool:
    """Shown as a colour emoji: emoji presentation by default, or asked for with U+FE0F, a
    keycap or a flag."""
    return bool(_EMOJI_PRESENTATION.search(cluster)) and "\ufe0e" not in cluster


@dataclass(frozen=True)
class Run:
    text: str
    font: FontFile
    level: int  # bidi embedding level: odd is right to left

    @property
    def direction(self) -> str:
        return "rtl" if self.level % 2 else "ltr"


def _strong(text: str) -> str | None:
    """'R' if the text has right-to-left letters, 'L' for left-to-right ones, None if neither."""
    kinds = {unicodedata.bidirectional(c) for c in text}
    if kinds & {"R", "AL"}:
        return "R"
    if kinds & {"L", "EN", "AN"}:
        return "L"
    return None


def _levels(runs: list[tuple[str, FontFile]], base: int) -> list[int]:
    """Each run's level: a right-to-left run odd, a left-to-right one even (above the base in a
    right-to-left paragraph), a neutral one between two runs of one direction takes it, any
    other neutral the paragraph's (rules W and N1, and I1-I2, at run granularity)."""
    strong = [_strong(text) for text, _ in runs]
    levels: list[int] = []
    for index, kind in enumerate(strong):
        if kind is None:
            before = next((k for k in reversed(strong[:index]) if k), None)
            after = next((k for k in strong[index + 1 :] if k), None)
            kind = before if before == after and before else ("R" if base else "L")
        levels.append((1 if kind == "R" else 0) if base == 0 else (1 if kind == "R" else 2))
    return levels


def visual_order(runs: list[Run]) -> list[Run]:
    """Rule L2: from the highest level down to the lowest odd one, reverse every sequence of
    runs at that level or above."""
    if not runs:
        return runs
    order = list(runs)
    highest = max(r.level for r in order)
    lowest_odd = min((r.level for r in order if r.level % 2), default=highest + 1)
    for level in range(highest, lowest_odd - 1, -1):
        index = 0
        while index < len(order):
            if order[index].level >= level:
                end = index
                while end < len(order) and order[end].level >= level:
                    end += 1
                order[index:end] = reversed(order[index:end])
                index = end
            else:
                index += 1
    return order


class FontChain:
    """A box's fonts: its own, then the brand kit's fallbacks in order, then colour emoji."""

    def __init__(
        self,
        primary: FontFile,
        fallbacks: Iterable[FontFile] = (),
        emoji: FontFile | None = None,
        hint: str = "",
    ):
        self.primary = primary
        self.fallbacks = tuple(fallbacks)
        self.emoji = emoji
        self.hint = hint
        self.text_fonts = (primary, *self.fallbacks)

    def _font_for(self, cluster: str) -> FontFile | None:
        order: tuple[FontFile, ...] = self.text_fonts
        if self.emoji is not None:
            order = (self.emoji, *order) if is_emoji(cluster) else (*order, self.emoji)
        return next((font for font in order if covers(font, cluster)), None)

    def runs(self, text: str, direction: str) -> list[Run]:
        """``text`` (one line) as runs of one font each, in logical order."""
        return list(self._runs(text, direction))

    @lru_cache(maxsize=8192)  # noqa: B019 - a chain lives as long as its renderer
    def _runs(self, text: str, direction: str) -> tuple[Run, ...]:
        pieces: list[tuple[str, FontFile]] = []
        missing: list[str] = []
        for word in regex.split(r"(\s+)", text):
            if not word:
                continue
            parts = clusters(word)
            whole = None
            if not any(is_emoji(p) for p in parts):
                whole = next((f for f in self.text_fonts if covers(f, word)), None)
            if whole is not None:
                previous = pieces[-1][1] if pieces else None
                if word.isspace() and previous not in (None, self.emoji):
                    whole = previous  # a space stays in the run it is in (not an emoji's:
                    # an emoji font's space is as wide as an emoji)
                pieces.append((word, whole))
                continue
            for part in parts:
                font = self._font_for(part)
                if font is None:
                    missing.extend(c for c in part if c not in IGNORABLE)
                    continue
                pieces.append((part, font))
        if missing:
            raise self.missing(missing)
        merged: list[tuple[str, FontFile]] = []
        for piece, font in pieces:
            if merged and merged[-1][1] == font:
                merged[-1] = (merged[-1][0] + piece, font)
            else:
                merged.append((piece, font))
        # Space at the edge of a run is a neutral of its own: between runs of two directions
        # it takes the paragraph's, and it must not travel with a right-to-left run.
        split: list[tuple[str, FontFile]] = []
        for piece, font in merged:
            body = piece.strip()
            if not body or len(merged) == 1:
                split.append((piece, font))
                continue
            head, tail = piece[: len(piece) - len(piece.lstrip())], piece[len(piece.rstrip()) :]
            split.extend((part, font) for part in (head, body, tail) if part)
        merged = split
        base = 1 if direction == "rtl" else 0
        if len(merged) == 1:
            return (Run(merged[0][0], merged[0][1], base),)
        levels = _levels(merged, base)
        return tuple(
            Run(piece, font, level) for (piece, font), level in zip(merged, levels, strict=True)
        )

    def missing(self, characters: Iterable[str]) -> MissingGlyphs:
        unique = list(dict.fromkeys(characters))
        shown = ", ".join(f"'{c}' (U+{ord(c):04X})" for c in unique[:5])
        first = " (the first five)" if len(unique) > 5 else ""
        return MissingGlyphs(
            f"no font of the brand kit can draw {len(unique)} character"
            f"{'s' if len(unique) != 1 else ''} in all: {shown}{first}; add a font that covers "
            f"them to fonts.fallbacks in graphics/brand.yaml, or change the text{self.hint}",
            unique,
        )

    def check(self, text: str) -> None:
        """Raises MissingGlyphs naming what no font of the chain can draw, in all its lines."""
        self._runs(" ".join(text.split("\n")), "ltr")

    def _scale(self, font: FontFile, size: int) -> float:
        drawn = strike(font)
        return size / drawn if drawn else 1.0

    @lru_cache(maxsize=65_536)  # noqa: B019
    def _run_length(self, run: Run, size: int) -> float:
        length = face(run.font, size).getlength(run.text, direction=run.direction)
        return float(length) * self._scale(run.font, size)

    def length(self, text: str, size: int, direction: str) -> float:
        return sum(self._run_length(run, size) for run in self._runs(text, direction))

    def ascent(self, size: int) -> int:
        return int(face(self.primary, size).getmetrics()[0])

    def draw(
        self,
        image: Image.Image,
        xy: tuple[float, float],
        text: str,
        size: int,
        fill: tuple[int, int, int],
        direction: str,
    ) -> None:
        """Draws one line with its top-left at ``xy``: runs left to right in visual order, all
        on the primary font's baseline."""
        x, top = xy
        baseline = top + self.ascent(size)
        draw = ImageDraw.Draw(image)
        for run in visual_order(list(self._runs(text, direction))):
            scale = self._scale(run.font, size)
            if scale == 1.0:
                draw.text(
                    (x, baseline),
                    run.text,
                    font=face(run.font, size),
                    fill=fill,
                    direction=run.direction,
                    anchor="ls",
                    embedded_color=run.font == self.emoji,
                )
            else:
                sprite, rise = self._sprite(run, size)
                image.paste(sprite, (round(x), round(baseline - rise)), sprite)
            x += self._run_length(run, size)

    @lru_cache(maxsize=1024)  # noqa: B019
    def _sprite(self, run: Run, size: int) -> tuple[Image.Image, float]:
        """A bitmap-font run drawn at its strike and scaled to ``size``, and how far it rises
        above the baseline."""
        font = face(run.font, size)
        ascent, descent = font.getmetrics()
        width = max(1, round(font.getlength(run.text, direction=run.direction)))
        canvas = Image.new("RGBA", (width, ascent + descent), (0, 0, 0, 0))
        ImageDraw.Draw(canvas).text(
            (0, ascent),
            run.text,
            font=font,
            anchor="ls",
            embedded_color=True,
            direction=run.direction,
        )
        scale = self._scale(run.font, size)
        scaled = canvas.resize(
            (max(1, round(width * scale)), max(1, round((ascent + descent) * scale))),
            Image.Resampling.LANCZOS,
        )
        return scaled, ascent * scale


__all__ = [
    "CardFitError",
    "FontChain",
    "FontFile",
    "MissingGlyphs",
    "Run",
    "clusters",
    "covers",
    "is_emoji",
    "visual_order",
]
