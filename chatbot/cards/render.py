"""Rendering a card to PNG: deterministic bytes, cached by a hash of everything that shapes it
(template, brand kit, font and logo files, the text and the canvas size)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageOps
from PIL import __version__ as pillow_version

from chatbot.cards.contrast import contrast_ratio, is_large_text
from chatbot.cards.fonts import FontChain
from chatbot.cards.layout import Fitted, fit
from chatbot.cards.template import Brand, CardTemplate, load_brand, load_template
from chatbot.files import write_atomically
from chatbot.platforms import platform_named


@dataclass(frozen=True)
class TextCheck:
    """Contrast of one text box against the background actually under it."""

    box: str
    size_px: int
    ratio: float
    large: bool


@dataclass
class Card:
    image: Image.Image
    checks: list[TextCheck] = field(default_factory=list)
    # Flat colours (no photo background): a 64-colour palette keeps every anti-aliasing step
    # visible and encodes in a third of the time of full RGB.
    flat: bool = False


# Bump when what ``render`` measures changes: kept checks of an older measure are not reused.
CHECKS_VERSION = 1

# The card field that names its brand kit (set from the chat's or the account's ``brand``);
# no template box has this name.
BRAND_FIELD = "_brand"


@lru_cache(maxsize=128)
def _file_digest(path: Path) -> str:
    if path.stat().st_size > 2_000_000:
        # A system CJK or emoji font is tens of megabytes: its name, size and time stand for it.
        stat = path.stat()
        return f"{path.name}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Renderer:
    """Loads brand kits once and templates on demand; renders and caches cards."""

    def __init__(self, graphics: Path, cache_dir: Path):
        self.graphics = graphics
        self.cache_dir = cache_dir
        self.brand: Brand = load_brand(graphics)
        self._brands: dict[str, Brand] = {"": self.brand}
        self._templates: dict[tuple[str, str], CardTemplate] = {}
        self._chains: dict[tuple[str, str], FontChain] = {}
        self._backgrounds: dict[tuple[str, str, tuple[int, int]], Image.Image] = {}
        self._logos: dict[tuple[str, tuple[int, int]], Image.Image] = {}

    def brand_of(self, fields: dict[str, str]) -> Brand:
        """The card's brand kit: the one its fields name, else graphics/brand.yaml."""
        name = fields.get(BRAND_FIELD, "")
        if name not in self._brands:
            self._brands[name] = load_brand(self.graphics, name)
        return self._brands[name]

    def template(self, name: str, brand: Brand | None = None) -> CardTemplate:
        brand = brand or self.brand
        if (name, brand.name) not in self._templates:
            self._templates[(name, brand.name)] = load_template(self.graphics, name, brand)
        return self._templates[(name, brand.name)]

    def chain(self, brand: Brand, font: str) -> FontChain:
        if (brand.name, font) not in self._chains:
            self._chains[(brand.name, font)] = brand.chain(font, self.graphics)
        return self._chains[(brand.name, font)]

    def cache_key(self, name: str, fields: dict[str, str], platform: str) -> str:
        brand = self.brand_of(fields)
        template = self.template(name, brand)
        parts = {
            "template": template.digest,
            "brand": _file_digest(brand.path),
            "fonts": [_file_digest(p) for p in brand.font_files()],
            "logo": _file_digest(brand.logo) if brand.logo else None,
            "fields": fields,
            "size": template.size_for(platform),
            "pillow": pillow_version.split(".")[0],
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def path_for(self, name: str, fields: dict[str, str], platform: str) -> Path:
        return self.cache_dir / f"{name}-{self.cache_key(name, fields, platform)[:20]}.png"

    def ensure(self, name: str, fields: dict[str, str], platform: str) -> tuple[Path, bool]:
        """The card's PNG, rendering it only if the cache lacks it. Returns (path, rendered)."""
        path = self.path_for(name, fields, platform)
        if path.is_file():
            return path, False
        card = self.render(name, fields, platform)
        # Send threads may render the same card at once: either copy (they are byte-identical)
        # becomes the cached one.
        write_atomically(path, encode(card.image, platform, palette=card.flat))
        return path, True

    def checks(
        self, name: str, fields: dict[str, str], platform: str, display_width: int = 400
    ) -> list[TextCheck]:
        """What the card rules judge (each box's size and contrast), kept beside the cached
        PNGs: a review of unchanged content does not render its cards again (a blast with a
        card on every post would render thousands). A card that does not fit is not kept:
        rendering it again raises the same error."""
        key = self.cache_key(name, fields, platform)[:20]
        record = self.cache_dir / "checks" / f"{name}-{key}-{display_width}-v{CHECKS_VERSION}.json"
        try:
            return [TextCheck(**item) for item in json.loads(record.read_text())]
        except (OSError, ValueError, TypeError):
            pass  # not checked yet (or a record from elsewhere): render it
        checks = self.render(name, fields, platform, display_width).checks
        with contextlib.suppress(OSError):  # a read-only cache costs the next review a render
            write_atomically(record, json.dumps([vars(c) for c in checks]).encode())
        return checks

    def _background(
        self, template: CardTemplate, brand: Brand, size: tuple[int, int]
    ) -> Image.Image:
        """The template's background at ``size``, built once and copied for each card."""
        key = (template.name, brand.name, size)
        if key not in self._backgrounds:
            model = template.model
            if model.background_image:
                with Image.open(self.graphics / model.background_image) as src:
                    image = ImageOps.fit(src.convert("RGB"), size, Image.Resampling.LANCZOS)
            else:
                image = Image.new("RGB", size, brand.color(model.background))
            self._backgrounds[key] = image
        return self._backgrounds[key].copy()

    def _logo(self, brand: Brand, size: tuple[int, int]) -> Image.Image | None:
        if brand.logo is None:
            return None
        if (brand.name, size) not in self._logos:
            with Image.open(brand.logo) as logo:
                self._logos[(brand.name, size)] = ImageOps.contain(
                    logo.convert("RGBA"), size, Image.Resampling.LANCZOS
                )
        return self._logos[(brand.name, size)]

    def layout(self, name: str, fields: dict[str, str], platform: str) -> list[tuple[int, Fitted]]:
        """Fit every box that has text; raises CardFitError naming the box."""
        from chatbot.cards.layout import CardFitError, MissingGlyphs

        brand = self.brand_of(fields)
        template = self.template(name, brand)
        width, height = template.size_for(platform)
        fitted = []
        for index, box in enumerate(template.model.boxes):
            text = fields.get(box.name, "").strip()
            if not text:
                continue
            chain = self.chain(brand, box.font)
            try:
                fitted.append(
                    (
                        index,
                        fit(
                            text,
                            chain,
                            round(box.box[2] * width),
                            round(box.box[3] * height),
                            box.size,
                            box.line_spacing,
                        ),
                    )
                )
            except MissingGlyphs as exc:
                where = f"template {name}, box {box.name}: {exc}"
                raise MissingGlyphs(where, exc.missing) from None
            except CardFitError as exc:
                raise CardFitError(f"template {name}, box {box.name}: {exc}") from None
        return fitted

    def render(
        self, name: str, fields: dict[str, str], platform: str, display_width: int = 400
    ) -> Card:
        brand = self.brand_of(fields)
        template = self.template(name, brand)
        size = template.size_for(platform)
        width, height = size
        image = self._background(template, brand, size)
        background = image.copy()
        card = Card(image)
        for index, fitted in self.layout(name, fields, platform):
            box = template.model.boxes[index]
            x0, y0 = round(box.box[0] * width), round(box.box[1] * height)
            bw, bh = round(box.box[2] * width), round(box.box[3] * height)
            chain = fitted.chain
            color = brand.color(box.color)
            block = len(fitted.lines) * fitted.line_height
            top = y0 + {"top": 0, "middle": (bh - block) // 2, "bottom": bh - block}[box.valign]
            align = (
                box.align
                if box.align != "auto"
                else ("right" if fitted.direction == "rtl" else "left")
            )
            for number, line in enumerate(fitted.lines):
                length = chain.length(line, fitted.size, fitted.direction)
                x = {"left": x0, "center": x0 + (bw - length) / 2, "right": x0 + bw - length}[align]
                chain.draw(
                    image,
                    (x, top + number * fitted.line_height),
                    line,
                    fitted.size,
                    color,
                    fitted.direction,
                )
            region = background.crop((x0, top, x0 + bw, top + block)).resize(
                (24, max(1, min(24, block))), Image.Resampling.BOX
            )
            colors = region.getcolors(24 * 24) or []
            worst = min(contrast_ratio(color, rgb[:3]) for _, rgb in colors)  # type: ignore[index,arg-type]
            shown = fitted.size * display_width / width
            card.checks.append(
                TextCheck(
                    box.name, fitted.size, round(worst, 2), is_large_text(shown, box.font == "bold")
                )
            )
        if template.model.logo:
            lx, ly, lw, lh = template.model.logo
            mark = self._logo(brand, (round(lw * width), round(lh * height)))
            if mark is not None:
                image.paste(mark, (round(lx * width), round(ly * height)), mark)
        card.flat = not template.model.background_image
        return card


def encode(image: Image.Image, platform: str, palette: bool = False) -> bytes:
    """PNG bytes: the same input gives the same bytes; shrunk to a palette if over the limit."""
    if palette:
        # The palette is chosen on a quarter-size copy (a box-filtered one keeps every blend of
        # text and background, and the emoji's colours) and the card mapped onto it: a fifth
        # of the time of octree quantisation of every pixel, with the same error (about one
        # level in 255 on average, measured on text and emoji cards).
        chosen = image.reduce(4).quantize(
            64, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
        )
        return _png(image.quantize(palette=chosen, dither=Image.Dither.NONE), level=1)
    data = _png(image)
    if len(data) > platform_named(platform).card_limit:
        data = _png(image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE))
    return data


def _png(image: Image.Image, level: int = 6) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False, compress_level=level)
    return buffer.getvalue()
