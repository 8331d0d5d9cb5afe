"""The dry-run publisher: prints and records what would be posted; posts nothing.

It is the default on a fresh machine (``publisher: dryrun``), so trying the tool never posts.
Records go to a JSON-lines file so ``reconcile`` works the same way as on a real platform.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from chatbot.publishers.base import (
    FoundPost,
    NotOffered,
    OutgoingPost,
    Published,
    Publisher,
    RemotePost,
)

_LOCK = threading.Lock()


@dataclass
class DryRunPublisher(Publisher):
    log_path: Path | None = None
    out: TextIO | None = None
    now: Callable[[], datetime] | None = None
    _records: list[RemotePost] = field(default_factory=list, repr=False)

    def _now(self) -> datetime:
        return self.now() if self.now is not None else datetime.now(UTC)

    def publish(self, post: OutgoingPost) -> Published:
        with _LOCK:
            number = len(self._records) + 1
            remote_id = f"dryrun-{self.account}-{number}"
            url = f"dryrun://{self.account}/{remote_id}"
            created = self._now()
            record = RemotePost(remote_id, post.text, created, url, post.repost_of)
            self._records.append(record)
            if self.out is not None:
                what = f"repost of {post.repost_of}" if post.repost_of else post.text
                what = f"like of {post.like_of}" if post.like_of else what
                media = "".join(f" [image {m.path.name}: alt {m.alt!r}]" for m in post.media)
                self.out.write(
                    f"[dry run] {created:%Y-%m-%d %H:%M:%S}Z {self.account}: {what}{media}\n"
                )
                self.out.flush()
            if self.log_path is not None:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                with self.log_path.open("a", encoding="utf-8") as handle:
                    handle.write(
                        json.dumps(
                            {
                                "at": created.isoformat(),
                                "account": self.account,
                                "key": post.key,
                                "text": post.text,
                                "repost_of": post.repost_of,
                                "reply_to": post.reply_to,
                                "media": [{"path": str(m.path), "alt": m.alt} for m in post.media],
                                "remote_id": remote_id,
                            },
                            ensure_ascii=False,
                        )
                        + "\n"
                    )
        return Published(remote_id, url)

    def find_tagged(
        self, tag: str, since_id: str | None, replies_to: tuple[str, ...] = ()
    ) -> list[FoundPost]:
        raise NotOffered("a dry run reads no answers (publisher: live reads them)")

    def recent_posts(self, since: datetime) -> list[RemotePost]:
        with _LOCK:
            return [r for r in reversed(self._records) if r.created_at and r.created_at >= since]
