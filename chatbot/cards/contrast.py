"""WCAG 2.x relative luminance and contrast ratio."""

from __future__ import annotations

from PIL import ImageColor


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def luminance(rgb: tuple[int, int, int]) -> float:
    r, g, b = rgb
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    la, lb = luminance(a), luminance(b)
    light, dark = max(la, lb), min(la, lb)
    return (light + 0.05) / (dark + 0.05)


def parse_color(value: str) -> tuple[int, int, int]:
    """``#rrggbb`` (or any colour Pillow knows) -> RGB; raises ValueError when unknown."""
    rgb = ImageColor.getrgb(value)
    return rgb[0], rgb[1], rgb[2]


def is_large_text(size_px: float, bold: bool) -> bool:
    """WCAG large text: at least 24 px, or 18.67 px when bold."""
    return size_px >= 24 or (bold and size_px >= 18.66)
