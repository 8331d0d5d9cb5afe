"""What the web app shows of a post: its text as the platform would link it, its length against
the limit, and the vision findings (computed once per version of the content files)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from markupsafe import Markup, escape

from chatbot.config import Config
from chatbot.content.digest import content_digest
from chatbot.content.load import ContentSet
from chatbot.platforms import DEFAULT_PLATFORM, platform_named
from chatbot.queue import kept
from chatbot.text import weighted_length
from chatbot.vision import Finding, Review


def linked(text: str, platform: str = DEFAULT_PLATFORM) -> Markup:
    """Escaped text with the links, hashtags and mentions marked up exactly where ``platform``
    would link them (Mastodon links no bare domain, Bluesky links no unknown top-level domain,
    X links both), so the preview shows which parts will be clickable."""
    out: list[str] = []
    last = 0
    for entity in platform_named(platform).entities(text):
        if entity.start < last:
            continue
        out.append(str(escape(text[last : entity.start])))
        piece = escape(text[entity.start : entity.end])
        if entity.kind == "link" and entity.value.lower().startswith(("https://", "http://")):
            href = escape(entity.value)
            out.append(f'<a href="{href}" rel="noopener noreferrer nofollow">{piece}</a>')
        else:
            kind = {"tag": "hashtag", "mention": "mention"}.get(entity.kind, "url")
            out.append(f'<span class="{kind}">{piece}</span>')
        last = entity.end
    out.append(str(escape(text[last:])))
    return Markup("".join(out))


def length_of(text: str, platform: str, limit: int) -> tuple[int, bool]:
    if not text:
        return 0, True
    used = weighted_length(text, platform)
    return used, used <= limit


class ReviewPending(Exception):
    """The whole-content review is still running (a large queue); the page says so."""


# One review per version of the content, shared by every app (and gunicorn thread) in the
# process; computed in one background thread, so no page and no lock waits on another's review.
_REVIEWS: OrderedDict[str, Future[tuple[ContentSet, Review]]] = OrderedDict()
_REVIEWS_LOCK = threading.Lock()
_REVIEWER = ThreadPoolExecutor(1, thread_name_prefix="review")
_KEEP = 4


def _compute(config: Config) -> tuple[ContentSet, Review]:
    """The content and its review (times not judged), from what the last whole read of the
    same files kept (``queue.kept``: a ``chatbot check`` leaves it) or read afresh."""
    digest = kept.digest_of(config)
    return kept.reviewed(config, digest, kept.recall(config, digest))


@dataclass
class Findings:
    """The content as the files say it is now, and the review of it, for the web app.

    ``current(wait)`` returns the review of the files as they are, computing it at most once
    per version (by content hash) in the background; it waits at most ``wait`` seconds and
    then raises ``ReviewPending``: a page never blocks on a whole-queue review."""

    config: Config
    page_wait: float = 2.0  # how long a page waits for the review before saying it is running

    def _future(self) -> Future[tuple[ContentSet, Review]]:
        key = f"{self.config.path}|{content_digest(self.config)}"
        with _REVIEWS_LOCK:
            future = _REVIEWS.get(key)
            if future is None or (future.done() and future.exception() is not None):
                future = _REVIEWER.submit(_compute, self.config)
                _REVIEWS[key] = future
                while len(_REVIEWS) > _KEEP:
                    _REVIEWS.popitem(last=False)
            _REVIEWS.move_to_end(key)
        return future

    def current(self, wait: float = 30.0) -> tuple[ContentSet, Review]:
        try:
            return self._future().result(timeout=wait)
        except TimeoutError:
            raise ReviewPending(
                "the review of the content is still running (a large queue takes a few "
                "seconds); try again in a moment"
            ) from None

    def for_post(self, key: str) -> list[Finding] | None:
        """The post's findings, or None while the review is still running."""
        try:
            return self.current(self.page_wait)[1].for_post(key)
        except ReviewPending:
            return None
