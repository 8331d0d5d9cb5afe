"""Rehearsing a chat: the real dispatcher, a throwaway database and dry-run publishers.

The chat's posts (intro, questions, outro, partner reposts and own wordings) are applied to a
temporary SQLite database and queued without approval, so a host can try a script before the
reviewers have signed it off. A virtual clock jumps from one due time to the next; between
jumps the rehearsal sleeps the gap divided by the speed (tests pass a sleep that only records).
Because the engine itself runs, what a rehearsal shows is what the worker would do: reposts wait
for their original, jitter and offsets apply, threads reply to the previous question.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from chatbot.config import Config
from chatbot.content.model import ContentSet, PostSpec
from chatbot.db.models import Post, PostState
from chatbot.db.session import open_database
from chatbot.engine.clock import FakeClock
from chatbot.engine.dispatcher import Dispatcher
from chatbot.errors import UserError
from chatbot.platforms import platform_named
from chatbot.publishers.base import OutgoingPost, Published, Publisher, RemotePost
from chatbot.publishers.dryrun import DryRunPublisher
from chatbot.queue.apply import apply_plan
from chatbot.text import weighted_length


@dataclass(frozen=True)
class RehearsedPost:
    at: datetime
    account: str
    key: str
    kind: str
    text: str
    weighted: int
    limit: int
    cards: tuple[Path, ...]
    repost_of: str | None
    reply_to: str | None


@dataclass
class _Recorder(Publisher):
    """A dry-run publisher that also tells the rehearsal what went out."""

    inner: DryRunPublisher = field(default_factory=lambda: DryRunPublisher("", ""))
    on_publish: Callable[[str, OutgoingPost, Published], None] = lambda *a: None

    def publish(self, post: OutgoingPost) -> Published:
        published = self.inner.publish(post)
        self.on_publish(self.account, post, published)
        return published

    def recent_posts(self, since: datetime) -> list[RemotePost]:
        return self.inner.recent_posts(since)


@dataclass
class Rehearsal:
    config: Config
    content: ContentSet
    chat_id: str
    speed: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    on_post: Callable[[RehearsedPost], None] = lambda post: None
    posts: list[RehearsedPost] = field(default_factory=list)

    def specs(self) -> list[PostSpec]:
        if self.chat_id not in self.content.chats:
            known = ", ".join(sorted(self.content.chats)) or "none"
            raise UserError(f"no chat called {self.chat_id!r} in the content (chats: {known})")
        if self.speed <= 0:
            raise UserError("--speed must be more than 0, e.g. 60 for a minute per second")
        return [p for p in self.content.posts if p.chat == self.chat_id]

    def run(self) -> list[RehearsedPost]:
        specs = self.specs()
        start = min(p.scheduled_at for p in specs)
        clock = FakeClock(start)
        limits = self.config.settings.platforms
        with tempfile.TemporaryDirectory(prefix="chatbot-rehearsal-") as tmp:
            db = open_database(f"sqlite:///{Path(tmp) / 'rehearsal.db'}")
            try:
                only_chat = ContentSet(
                    chats={self.chat_id: self.content.chats[self.chat_id]}, posts=specs
                )
                with db.write() as session:
                    apply_plan(session, only_chat, self.config, start, "rehearsal")
                    session.flush()
                    session.execute(update(Post).values(state=PostState.QUEUED))

                by_key = {p.key: p for p in specs}

                def record(account: str, out: OutgoingPost, published: Published) -> None:
                    spec = by_key[out.key]
                    limit, _ = platform_named(spec.platform).limits(limits)
                    item = RehearsedPost(
                        clock.now(),
                        account,
                        out.key,
                        spec.kind,
                        out.text,
                        weighted_length(out.text, spec.platform) if out.text else 0,
                        limit,
                        tuple(m.path for m in out.media),
                        out.repost_of,
                        out.reply_to,
                    )
                    self.posts.append(item)
                    self.on_post(item)

                publishers: dict[str, Publisher] = {
                    key: _Recorder(
                        key,
                        account.handle,
                        inner=DryRunPublisher(key, account.handle, now=clock.now),
                        on_publish=record,
                    )
                    for key, account in self.config.settings.accounts.items()
                }
                dispatcher = Dispatcher(
                    db, self.config, publishers, clock, notify=lambda *a, **k: None
                )
                while True:
                    wake = dispatcher.run_due()
                    if wake is None:
                        break
                    gap = max(wake - clock.now(), timedelta(0))
                    self.sleep(gap.total_seconds() / self.speed)
                    clock.set(max(wake, clock.now()))
            finally:
                db.dispose()
        return self.posts
