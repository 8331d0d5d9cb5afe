"""Images attached to posts: inside the content folder, a real image of an allowed kind, within
the platform's size limit. Checked when content is loaded (``chatbot check`` names the post's
file and line), again by the worker just before uploading, and by the web app before showing.

The name a file gives (``image: images/flyer.png``) is resolved against ``content_dir`` after
following symlinks, so neither ``../../.env``, an absolute path nor a symlink can make the
worker upload a file from outside the content folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from chatbot.platforms import platform_named

# Pillow's format name -> MIME type: the kinds every platform takes.
ALLOWED_FORMATS = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}
MAX_PIXELS = 40_000_000  # a "decompression bomb" is refused before it is decoded


class ImageProblem(ValueError):
    """An image a post names cannot be attached; the message says why and what to do."""


@dataclass(frozen=True)
class ImageFile:
    path: Path
    mime: str
    size: int
    width: int
    height: int


def resolve_image(content_dir: Path, name: str) -> Path:
    """``name`` as a file inside ``content_dir`` (symlinks followed), or ``ImageProblem``."""
    if not name.strip():
        raise ImageProblem("image: is empty; give a path inside the content folder")
    if Path(name).is_absolute():
        raise ImageProblem(
            f"image {name!r} is an absolute path; give a path inside the content folder, "
            "e.g. images/flyer.png"
        )
    root = content_dir.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root):
        raise ImageProblem(
            f"image {name!r} points outside the content folder; put the image under "
            f"{content_dir} and name it from there"
        )
    if not path.is_file():
        raise ImageProblem(f"image {name!r} not found in the content folder")
    return path


@lru_cache(maxsize=256)
def _inspect(path: Path, size: int, mtime_ns: int) -> tuple[str, int, int]:
    """(format, width, height) of a file, decoded once per version of it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            kind, (width, height) = image.format or "", image.size
            if width * height > MAX_PIXELS:
                raise ImageProblem(
                    f"{width}x{height} pixels is more than {MAX_PIXELS:,}; scale it down"
                )
            image.verify()
    except (UnidentifiedImageError, Image.DecompressionBombError):
        raise ImageProblem("is not an image Pillow can read (PNG, JPEG, GIF or WebP)") from None
    except OSError as exc:
        raise ImageProblem(f"is a damaged image ({exc})") from None
    return kind, width, height


def check_image(content_dir: Path, name: str, platform: str) -> ImageFile:
    """The image ``name`` as it can be attached on ``platform``, or ``ImageProblem``."""
    path = resolve_image(content_dir, name)
    stat = path.stat()
    try:
        kind, width, height = _inspect(path, stat.st_size, stat.st_mtime_ns)
    except ImageProblem as exc:
        raise ImageProblem(f"image {name!r} {exc}") from None
    if kind not in ALLOWED_FORMATS:
        raise ImageProblem(
            f"image {name!r} is {kind or 'an unknown kind'}; use PNG, JPEG, GIF or WebP"
        )
    limit = platform_named(platform).image_limit
    if stat.st_size > limit:
        raise ImageProblem(
            f"image {name!r} is {stat.st_size / 1e6:.1f} MB; {platform} takes at most "
            f"{limit / 1e6:.0f} MB: make it smaller"
        )
    return ImageFile(path, ALLOWED_FORMATS[kind], stat.st_size, width, height)
