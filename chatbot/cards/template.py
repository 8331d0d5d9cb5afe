"""Card templates and the brand kit, loaded from YAML with errors naming file, line and key.

Boxes are fractions of the canvas (x, y, width, height), so one template serves every
platform's canvas size.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chatbot.cards.contrast import parse_color
from chatbot.cards.fonts import FontChain, FontFile
from chatbot.content.load import validate_model
from chatbot.content.located import located_error
from chatbot.errors import ContentError
from chatbot.platforms import platform_named
from chatbot.yamlmarks import LocatedYaml, PathKey, load_yaml


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WeightsIn(_In):
    regular: str
    bold: str


class FontsIn(_In):
    regular: str
    bold: str
    # Tried in order where the fonts before have no glyph: a file for both weights, or one per
    # weight. ``system:NAME`` is a font installed on the machine (found in its font folders);
    # ``NAME#N`` is face N of a collection (.ttc).
    fallbacks: list[str | WeightsIn] = Field(default_factory=list)
    emoji: str | None = None


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
    fallbacks: dict[str, tuple[FontFile, ...]]  # per weight: regular, bold
    logo: Path | None
    emoji: FontFile | None = None
    # Fonts the kit names that this machine does not have, with what installs them.
    absent: tuple[str, ...] = ()
    name: str = ""  # "" for the default kit, graphics/brand.yaml

    def color(self, name: str) -> tuple[int, int, int]:
        return self.colors.get(name) or parse_color(name)

    def font_files(self) -> list[Path]:
        faces = [*self.fallbacks["regular"], *self.fallbacks["bold"]]
        if self.emoji is not None:
            faces.append(self.emoji)
        return sorted({*self.fonts.values(), *(f.path for f in faces)})

    def chain(self, font: str, graphics: Path) -> FontChain:
        """The fonts a box set in ``font`` (regular, bold, or a file) is drawn with."""
        weight = "bold" if font == "bold" else "regular"
        primary = self.fonts.get(font) or graphics / font
        hint = ""
        if self.absent:
            hint = f" (named in {self.path.name} but not installed here: {'; '.join(self.absent)})"
        return FontChain(FontFile(primary), self.fallbacks[weight], self.emoji, hint)


# Where ``system:NAME`` fonts are looked for, in order (Debian, other Linux, macOS).
SYSTEM_FONT_DIRS = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".local/share/fonts",
    Path.home() / ".fonts",
    Path("/Library/Fonts"),
    Path("/System/Library/Fonts"),
    Path.home() / "Library/Fonts",
)
# What installs a system font the default kit names, for the message when it is absent.
FONT_PACKAGES = {
    "NotoSansCJK": "Debian's fonts-noto-cjk (apt-get install fonts-noto-cjk)",
    "NotoColorEmoji": "Debian's fonts-noto-color-emoji (apt-get install fonts-noto-color-emoji)",
}


@lru_cache(maxsize=64)
def system_font(name: str) -> Path | None:
    for folder in SYSTEM_FONT_DIRS:
        if folder.is_dir():
            found = sorted(folder.rglob(name))
            if found:
                return found[0]
    return None


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


_BRAND_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def brand_path(graphics: Path, name: str) -> Path:
    """The default kit is ``graphics/brand.yaml``; a named one ``graphics/brands/NAME.yaml``."""
    if not name:
        return graphics / "brand.yaml"
    if not _BRAND_NAME.match(name):
        raise ContentError(
            f"{name!r} is not a brand kit's name (lower-case letters, digits, - or _: the name "
            f"of a file in {graphics / 'brands'}, never a path)"
        )
    return graphics / "brands" / f"{name}.yaml"


def load_brand(graphics: Path, name: str = "") -> Brand:
    path = brand_path(graphics, name)
    if name and not path.is_file():
        known = sorted(p.stem for p in (graphics / "brands").glob("*.yaml"))
        raise ContentError(
            f"no brand kit {name!r}: {path} not found; kits: {', '.join(known) or 'none'}"
        )
    doc = load_yaml(path, ContentError)
    model, errors = validate_model(doc, BrandIn)
    if model is None:
        raise errors[0]
    colors = {}
    for color, value in model.colors.items():
        try:
            colors[color] = parse_color(value)
        except ValueError:
            raise located_error(
                doc, ("colors", color), f"{value!r} is not a colour; write #rrggbb"
            ) from None
    fonts = {
        key: _graphics_file(doc, ("fonts", key), graphics, getattr(model.fonts, key), "font")
        for key in ("regular", "bold")
    }
    absent: list[str] = []
    fallbacks: dict[str, list[FontFile]] = {"regular": [], "bold": []}
    for index, entry in enumerate(model.fonts.fallbacks):
        for weight in ("regular", "bold"):
            file = entry if isinstance(entry, str) else getattr(entry, weight)
            keys: PathKey = ("fonts", "fallbacks", index)
            if not isinstance(entry, str):
                keys = (*keys, weight)
            face = _font(doc, keys, graphics, file, absent)
            if face is not None and face not in fallbacks[weight]:
                fallbacks[weight].append(face)
    emoji = None
    if model.fonts.emoji:
        emoji = _font(doc, ("fonts", "emoji"), graphics, model.fonts.emoji, absent)
    logo = _image_file(doc, ("logo",), graphics, model.logo, "logo") if model.logo else None
    return Brand(
        path,
        colors,
        fonts,
        {weight: tuple(faces) for weight, faces in fallbacks.items()},
        logo,
        emoji,
        tuple(dict.fromkeys(absent)),
        name,
    )


def _font(
    doc: LocatedYaml, keys: PathKey, graphics: Path, name: str, absent: list[str]
) -> FontFile | None:
    """A fallback or emoji font: a file of the kit, or ``system:NAME`` (None if this machine
    lacks it: cards that need it say what to install)."""
    file, _, index = name.partition("#")
    if index and not index.isdigit():
        raise located_error(doc, keys, f"{name!r}: write FILE#N, N the face of a .ttc")
    face = int(index or 0)
    if file.startswith("system:"):
        base = file.removeprefix("system:")
        if "/" in base or "\\" in base or not base:
            raise located_error(
                doc, keys, f"{name!r}: system: takes a font's file name, never a path"
            )
        found = system_font(base)
        if found is None:
            package = next((p for k, p in FONT_PACKAGES.items() if base.startswith(k)), None)
            absent.append(f"{base}, from {package}" if package else base)
            return None
        path = found
    else:
        path = _graphics_file(doc, keys, graphics, file, "font")
    if not _font_faces(path) > face:
        raise located_error(
            doc, keys, f"{path} is not a font (or has no face {face}); use a .ttf, .otf or .ttc"
        )
    return FontFile(path, face)


def _font_faces(path: Path) -> int:
    """How many faces the file holds, from its header alone (0: not a font). Reading a CJK
    font's character map takes a third of a second, which every ``check`` would pay."""
    with path.open("rb") as handle:
        head = handle.read(12)
    if head[:4] == b"ttcf" and len(head) == 12:
        return int.from_bytes(head[8:12], "big")
    return 1 if head[:4] in (b"\x00\x01\x00\x00", b"OTTO", b"true") else 0


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
