"""What the content, as the tool reads it, depends on, as one hash: the config, every content
file's bytes and the graphics. The web app reviews the content once per hash; a second
command on content whose hash has not changed reads none of it again (``queue/kept.py``).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from chatbot.config import Config

PACKAGE = Path(__file__).resolve().parent.parent


def content_digest(config: Config) -> str:
    """What the review depends on: the config, every content file's bytes (images by name, size
    and time), and the graphics (templates, brand kit, fonts, logos) by name, size and time.
    Cheap next to a review."""
    digest = hashlib.sha256(config.path.read_bytes() if config.path.is_file() else b"")
    # The tool's own output is not what content is made of (it may be kept inside either folder).
    outputs = (config.cache_dir, config.cards_dir)
    root = config.content_dir
    if root.is_dir():
        for path in sorted(_files(root, outputs)):
            if path.suffix in (".yaml", ".yml"):
                digest.update(str(path.relative_to(root)).encode() + b"\0")
                digest.update(hashlib.sha256(path.read_bytes()).digest())
            else:  # a post's image: whether it is there, and its size, are checked
                _stat(digest, root, path)
    graphics = config.graphics_dir
    if graphics.is_dir():
        for path in sorted(_files(graphics, outputs)):
            _stat(digest, graphics, path)
    return digest.hexdigest()


def _files(root: Path, outputs: tuple[Path, ...]) -> list[Path]:
    return [
        p for p in root.rglob("*") if p.is_file() and not any(p.is_relative_to(o) for o in outputs)
    ]


def _stat(digest: hashlib._Hash, root: Path, path: Path) -> None:
    stat = path.stat()
    digest.update(f"\1{path.relative_to(root)}|{stat.st_size}|{stat.st_mtime_ns}".encode())


@lru_cache(maxsize=1)
def code_digest() -> str:
    """This version of the tool's code (every module's bytes): content read by another version
    may expand to other posts."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()
