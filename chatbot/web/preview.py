"""What the web app shows of a post: its text as the platform would link it, its length against
the limit, and the vision findings (computed once per version of the content files)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from markupsafe import Markup, escape

from chatbot.config import Config
from chatbot.content import ContentSet, load_content
from chatbot.text import HASHTAG, MENTION, urls_in, weighted_length
from chatbot.vision import Finding, Review, review


def linked(text: str) -> Markup:
    """Escaped text with links, hashtags and mentions marked up as the platform shows them."""
    spans: list[tuple[int, int, str]] = []
    position = 0
    for url in urls_in(text):
        start = text.find(url, position)
        if start >= 0:
            spans.append((start, start + len(url), "url"))
            position = start + len(url)
    for kind, pattern in (("hashtag", HASHTAG), ("mention", MENTION)):
        for match in pattern.finditer(text):
            start, end = match.span()
            if not any(s < end and start < e for s, e, _ in spans):
                spans.append((start, end, kind))
    spans.sort()
    out: list[str] = []
    last = 0
    for start, end, kind in spans:
        out.append(str(escape(text[last:start])))
        piece = escape(text[start:end])
        if kind == "url":
            out.append(f'<a href="{piece}" rel="noopener noreferrer nofollow">{piece}</a>')
        else:
            out.append(f'<span class="{kind}">{piece}</span>')
        last = end
    out.append(str(escape(text[last:])))
    return Markup("".join(out))


def length_of(text: str, platform: str, limit: int) -> tuple[int, bool]:
    if not text:
        return 0, True
    used = weighted_length(text, platform)
    return used, used <= limit


@dataclass
class Findings:
    """The content as files say it is now and the review of it, cached by file times."""

    config: Config
    _stamp: tuple[tuple[str, float], ...] | None = None
    _content: ContentSet | None = None
    _review: Review | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _files(self) -> tuple[tuple[str, float], ...]:
        root = self.config.content_dir
        if not root.is_dir():
            return ()
        return tuple(
            sorted((str(p), p.stat().st_mtime) for p in Path(root).rglob("*.y*ml") if p.is_file())
        )

    def current(self) -> tuple[ContentSet, Review]:
        with self._lock:
            stamp = self._files()
            if stamp != self._stamp or self._content is None or self._review is None:
                content = load_content(self.config)
                self._review = review(
                    content,
                    self.config.settings.platforms,
                    graphics=self.config.graphics_dir,
                    cards_dir=self.config.cards_dir,
                )
                self._content, self._stamp = content, stamp
            return self._content, self._review

    def for_post(self, key: str) -> list[Finding]:
        return self.current()[1].for_post(key)
