"""Card templates and the brand kit, loaded from YAML with errors naming file, line and key.

Boxes are fractions of the canvas (x, y, width, height), so one template serves every
platform's canvas size.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chatbot.cards.contrast import parse_color
from chatbot.content.load import validate_model
from chatbot.content.located import located_error
from chatbot.errors import ContentError
from chatbot.platforms import platform_named
from chatbot.yamlmarks import LocatedYaml, PathKey, load_yaml


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FontsIn(_In):
    regular: str
    bold: str
    fallbacks: list[str] = Field(default_factory=list)


class BrandIn(_In):
    name: str = ""
    colors: dict[str, str] = Field(default_factory=dict)
    fonts: FontsIn
    logo: str | None = None


class BoxIn(_In):
    name: str
    box: tuple[float, float, float, float]
    font: str = "regular"
    size: tuple[int, int] = (24, 96)
    color: str = "ink"
    align: Literal["left", "center", "right", "auto"] = "auto"
    valign: Literal["top", "middle", "bottom"] = "top"
    line_spacing: float = Field(1.18, ge=1.0, le=2.0)


class TemplateIn(_In):
    name: str
    # Canvas size per platform; a platform not named here gets its own (the registry's).
    sizes: dict[str, tuple[int, int]] = Field(default_factory=dict)
    background: str = "paper"
    background_image: str | None = None
    boxes: list[BoxIn] = Field(min_length=1)
    logo: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class Brand:
    path: Path
    colors: dict[str, tuple[int, int, int]]
    fonts: dict[str, Path]
    fallbacks: tuple[Path, ...]
    logo: Path | None

    def color(self, name: str) -> tuple[int, int, int]:
        return self.colors.get(name) or parse_color(name)


@dataclass(frozen=True)
class CardTemplate:
    path: Path
    model: TemplateIn
    digest: str

    @property
    def name(self) -> str:
        return self.model.name

    def size_for(self, platform: str) -> tuple[int, int]:
        return self.model.sizes.get(platform) or platform_named(platform).card_size


def _color_ok(value: str, colors: dict[str, tuple[int, int, int]]) -> bool:
    if value in colors:
        return True
    try:
        parse_color(value)
    except ValueError:
        return False
    return True


def load_brand(graphics: Path) -> Brand:
    path = graphics / "brand.yaml"
    doc = load_yaml(path, ContentError)
    model, errors = validate_model(doc, BrandIn)
    if model is None:
        raise errors[0]
    colors = {}
    for name, value in model.colors.items():
        try:
            colors[name] = parse_color(value)
        except ValueError:
            raise located_error(
                doc, ("colors", name), f"{value!r} is not a colour; write #rrggbb"
            ) from None
    fonts = {
        key: _graphics_file(doc, ("fonts", key), graphics, getattr(model.fonts, key), "font")
        for key in ("regular", "bold")
    }
    fallbacks = [
        _graphics_file(doc, ("fonts", "fallbacks", index), graphics, name, "font")
        for index, name in enumerate(model.fonts.fallbacks)
    ]
    logo = _image_file(doc, ("logo",), graphics, model.logo, "logo") if model.logo else None
    return Brand(path, colors, fonts, tuple(fallbacks), logo)


_TEMPLATE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def inside(folder: Path, name: str | Path) -> Path | None:
    """``folder / name`` with symlinks followed, or None if that leaves ``folder``."""
    root = folder.resolve()
    path = (root / name).resolve()
    return path if path.is_relative_to(root) else None


def _graphics_file(doc: LocatedYaml, keys: PathKey, graphics: Path, name: str, what: str) -> Path:
    path = inside(graphics, name)
    if path is None:
        raise located_error(
            doc, keys, f"{what} {name!r} is outside {graphics}; keep the brand kit's files there"
        )
    if not path.is_file():
        raise located_error(doc, keys, f"{what} file {graphics / name} not found")
    return path


def _image_file(doc: LocatedYaml, keys: PathKey, graphics: Path, name: str, what: str) -> Path:
    from PIL import Image, UnidentifiedImageError

    path = _graphics_file(doc, keys, graphics, name, what)
    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise located_error(
            doc, keys, f"{what} {graphics / name} is not an image (use a PNG, JPEG or WebP file)"
        ) from None
    return path


def load_template(graphics: Path, name: str, brand: Brand) -> CardTemplate:
    if not _TEMPLATE_NAME.match(name):
        raise ContentError(
            f"{name!r} is not a card template's name (lower-case letters, digits, - or _: the "
            f"name of a file in {graphics / 'templates'}, never a path)"
        )
    path = graphics / "templates" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (graphics / "templates").glob("*.yaml"))
        raise ContentError(
            f"no card template {name!r}; templates: {', '.join(known) or 'none'}", path
        )
    doc = load_yaml(path, ContentError)
    model, errors = validate_model(doc, TemplateIn)
    if model is None:
        raise errors[0]
    if not _color_ok(model.background, brand.colors):
        raise located_error(
            doc,
            ("background",),
            f"unknown colour {model.background!r}; use a "
            f"brand colour ({', '.join(brand.colors)}) or #rrggbb",
        )
    if model.background_image:
        _image_file(doc, ("background_image",), graphics, model.background_image, "image")
    for index, box in enumerate(model.boxes):
        keys = ("boxes", index)
        x, y, w, h = box.box
        if min(x, y) < 0 or w <= 0 or h <= 0 or x + w > 1.0001 or y + h > 1.0001:
            raise located_error(
                doc,
                (*keys, "box"),
                f"box {list(box.box)} reaches outside the "
                "canvas; x, y, width and height are fractions and x+width, "
                "y+height must be at most 1",
            )
        if not _color_ok(box.color, brand.colors):
            raise located_error(
                doc,
                (*keys, "color"),
                f"unknown colour {box.color!r}; use a "
                f"brand colour ({', '.join(brand.colors)}) or #rrggbb",
            )
        font_file = inside(graphics, box.font)
        if box.font not in brand.fonts and (font_file is None or not font_file.is_file()):
            raise located_error(
                doc,
                (*keys, "font"),
                f"font {box.font!r} is neither a brand "
                "font (regular, bold) nor a file in graphics/",
            )
        if box.size[0] > box.size[1] or box.size[0] < 8:
            raise located_error(
                doc, (*keys, "size"), "size is [minimum, maximum] in pixels, minimum at least 8"
            )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return CardTemplate(path, model, digest)
