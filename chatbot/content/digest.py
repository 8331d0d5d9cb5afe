"""What the content, as the tool reads it, depends on, as one hash: the config, every content
file's bytes and the graphics. The web app reviews the content once per hash; a second
``apply`` of content whose hash has not changed reads none of it again (``queue/applied.py``).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from chatbot.config import Config

PACKAGE = Path(__file__).resolve().parent.parent


def content_digest(config: Config) -> str:
    """What the review depends on: the config, every content file's bytes, and the graphics
    (templates, brand kit, fonts, logos) by name, size and time. Cheap next to a review."""
    digest = hashlib.sha256(config.path.read_bytes() if config.path.is_file() else b"")
    root = config.content_dir
    if root.is_dir():
        for path in sorted(p for p in root.rglob("*.y*ml") if p.is_file()):
            digest.update(str(path.relative_to(root)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    graphics = config.graphics_dir
    if graphics.is_dir():
        for path in sorted(p for p in graphics.rglob("*") if p.is_file()):
            stat = path.stat()
            digest.update(
                f"{path.relative_to(graphics)}|{stat.st_size}|{stat.st_mtime_ns}".encode()
            )
    return digest.hexdigest()


@lru_cache(maxsize=1)
def code_digest() -> str:
    """This version of the tool's code (every module's bytes): content read by another version
    may expand to other posts."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()
