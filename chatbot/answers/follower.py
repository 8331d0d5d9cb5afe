"""The worker's side of following answers: read each platform for every chat whose follow
window is open, write what is new, keep Mastodon's stream open where there is one, purge.

Reading is never done inside a write transaction (SQLite has one writer: the posting engine).
A platform that refuses (a rate limit, a stream that drops, reading X switched off or capped)
is recorded on its reading position with what is missing, and the console says it; the other
platforms and the posting engine carry on.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from chatbot.answers import store
from chatbot.answers.store import Followed
from chatbot.config import Config
from chatbot.db.models import AnswerSource
from chatbot.db.session import Database
from chatbot.platforms import Platform, platform_named
from chatbot.publishers.base import (
    FoundPost,
    NotOffered,
    Publisher,
    PublishError,
    RateLimited,
    Stream,
)

log = logging.getLogger("chatbot.answers")
PURGE_EVERY = timedelta(minutes=1)
ERROR_PAUSE = timedelta(seconds=15)
STREAM_RETRY = timedelta(seconds=30)
# Thread reads for replies that carry no hashtag: the current question and the one before.
REPLY_QUESTIONS = 2
# X's conversation_id operators in one query (its query may be 512 characters).
X_CONVERSATIONS = 5

Key = tuple[str, str]  # (chat, platform)


def newest(platform: Platform, found: list[FoundPost], since: str | None) -> str | None:
    """The reading position after ``found``: the highest id on X and Mastodon (snowflakes,
    compared as numbers), the newest creation time on Bluesky (its search pages by time)."""
    if platform.since_is_time:
        times = [p.created_at.isoformat() for p in found if p.created_at is not None]
        return max([*times, *([since] if since else [])], default=None)
    ids = [p.remote_id for p in found if p.remote_id.isdigit()]
    if since and since.isdigit():
        ids.append(since)
    return max(ids, key=int, default=since)


class Follower:
    def __init__(
        self,
        config: Config,
        db: Database,
        publishers: dict[str, Publisher],
        now: Callable[[], datetime],
    ):
        self.config = config
        self.settings = config.settings.answers
        self.db = db
        self.publishers = publishers
        self.now = now  # the worker's clock
        self.streams: dict[Key, Stream] = {}
        self.stream_retry: dict[Key, datetime] = {}
        self._dropped: set[Key] = set()  # a stream that was open and dropped: say so
        self._noted: dict[Key, tuple[str, str]] = {}  # written once, not every cycle
        self._replies_at: dict[Key, datetime] = {}  # thread reads are rarer than searches
        self._inbox: dict[Key, list[FoundPost]] = defaultdict(list)
        self._lock = threading.Lock()
        self._purged_at: datetime | None = None
        self.arrived = threading.Event()  # set when a stream delivers (the worker drains it)

    # -- one cycle ---------------------------------------------------------------------------

    def cycle(self) -> None:
        now = self.now()
        with self.db.read() as session:
            followed = [f for f in store.chats(session, self.config.settings) if f.open_at(now)]
        open_keys = set()
        for chat in followed:
            for platform, account in chat.hosts.items():
                open_keys.add((chat.key, platform))
                self._follow(chat, platform_named(platform), platform, account, now)
        for key in [k for k in self.streams if k not in open_keys]:
            self.streams.pop(key).close()
        if self._purged_at is None or now - self._purged_at >= PURGE_EVERY:
            self._purged_at = now
            with self.db.write() as session:
                for purged, deleted in store.purge(session, self.config.settings, now).items():
                    log.info(
                        "answers purged",
                        extra={"event": "answers.purged", "chat": purged, "answers": deleted},
                    )

    def close(self) -> None:
        for stream in self.streams.values():
            stream.close()
        self.streams.clear()

    # -- one platform of one chat ------------------------------------------------------------

    def _every(self, kind: Platform) -> timedelta:
        every: timedelta = getattr(self.settings, kind.reads_every)
        return every

    def _follow(
        self, chat: Followed, kind: Platform, platform: str, account: str, now: datetime
    ) -> None:
        publisher = self.publishers.get(account)
        if publisher is None:
            return
        key = (chat.key, platform)
        if kind.reads_cost and not chat.read_x:
            self._note(
                chat,
                platform,
                account,
                "off",
                f"reading {kind.label} is off for this chat: each post read costs "
                f"${self.config.settings.platforms.x.price_read:g} "
                "(follow: {x: true} in the chat enables it)",
            )
            return
        with self.db.write() as session:
            source = store.claim_source(
                session, chat.key, platform, account, now, self._every(kind)
            )
            if source is None:
                return
            since, reads = source.since_id, source.reads
        if since is None and platform in chat.first:
            # Nothing read yet: start after the chat's first post there, so an early burst is
            # paged from its beginning (and nothing from before the chat is read or billed).
            first_id, first_at = chat.first[platform]
            since = first_at.isoformat() if kind.since_is_time else first_id
        if kind.reads_cost and reads >= chat.x_max_reads:
            price = self.config.settings.platforms.x.price_read
            self._note(
                chat,
                platform,
                account,
                "capped",
                f"{kind.label} reading stopped at this chat's cap: {reads} posts read (about "
                f"${reads * price:.2f}); raise follow.x_max_reads to read more",
            )
            return
        streaming = self._stream(chat, kind, key, publisher, now)
        found: list[FoundPost] = []
        problem: str | None = None
        retry_at: datetime | None = None
        try:
            if not streaming:
                conversations = (
                    tuple(
                        q.remote_id or ""
                        for q in chat.posted_questions(platform)[-X_CONVERSATIONS:]
                    )
                    if kind.replies_in_search
                    else ()
                )
                found += publisher.find_tagged(chat.tag, since, conversations)
            replies_due = now - self._replies_at.get(key, now - self.settings.replies_every)
            if not kind.replies_in_search and replies_due >= self.settings.replies_every:
                self._replies_at[key] = now
                for question in chat.posted_questions(platform)[-REPLY_QUESTIONS:]:
                    found += publisher.find_replies(question.remote_id or "")
        except RateLimited as exc:
            reset = exc.reset_at or now + timedelta(minutes=1)
            problem = (
                f"rate limited reading {platform} until {reset:%H:%M:%S}Z; its answers "
                "will catch up then"
            )
            retry_at = reset
        except NotOffered as exc:
            problem, retry_at = exc.message, now + timedelta(hours=1)
        except PublishError as exc:
            problem = f"answers not read: {exc.message}; trying again shortly"
            retry_at = now + ERROR_PAUSE
        except Exception as exc:  # an answer shaped unlike any we know: this platform only
            log.exception(
                "reading answers failed",
                extra={"event": "answers.error", "chat": chat.key, "platform": platform},
            )
            problem = f"answers not read: internal error ({type(exc).__name__}); see the log"
            retry_at = now + ERROR_PAUSE
        with self._lock:
            found += self._inbox.pop(key, [])
        mode = "streaming" if streaming else "polling"
        if not streaming and key in self._dropped:
            problem = problem or (
                f"the {platform} stream dropped; polling every "
                f"{self._every(kind).total_seconds():g}s until it is back"
            )
        self._noted.pop(key, None)  # the row below says what is true now
        with self.db.write() as session:
            row = session.get(AnswerSource, (chat.key, platform))
            if row is None:
                return
            new = store.record(session, chat, platform, found, now)
            if not streaming:
                row.since_id = newest(kind, found, since)
            row.reads += len(found)
            row.mode, row.problem, row.retry_at = mode, problem, retry_at
        if new:
            log.info(
                "answers read",
                extra={"event": "answers.read", "chat": chat.key, "platform": platform, "new": new},
            )

    def _stream(
        self, chat: Followed, kind: Platform, key: Key, publisher: Publisher, now: datetime
    ) -> bool:
        """Whether a live stream is carrying this chat's hashtag (opening one if it may)."""
        if not kind.streams or not self.settings.streaming:
            return False
        stream = self.streams.get(key)
        if stream is not None and stream.alive:
            return True
        if stream is not None:
            self.streams.pop(key).close()
            self.stream_retry[key] = now + STREAM_RETRY
            self._dropped.add(key)
            log.warning("answer stream dropped", extra={"event": "answers.stream_dropped"})
            return False
        if key in self.stream_retry and now < self.stream_retry[key]:
            return False

        def arrived(post: FoundPost) -> None:
            with self._lock:
                self._inbox[key].append(post)
            self.arrived.set()

        opened = publisher.stream_tagged(chat.tag, arrived)
        if opened is None:
            self.stream_retry[key] = now + timedelta(hours=1)  # none here: poll
            return False
        self.streams[key] = opened
        self.stream_retry.pop(key, None)
        self._dropped.discard(key)
        return True

    def drain(self) -> None:
        """Write what the streams delivered, at once (called by the worker between cycles)."""
        now = self.now()
        with self._lock:
            waiting = {k: v for k, v in self._inbox.items() if v}
            self._inbox.clear()
            self.arrived.clear()
        if not waiting:
            return
        with self.db.read() as session:
            chats = {
                f.key: f
                for f in store.chats(session, self.config.settings, [k[0] for k in waiting])
            }
        with self.db.write() as session:
            for (chat, platform), found in waiting.items():
                if chat in chats:
                    store.record(session, chats[chat], platform, found, now)

    def _note(self, chat: Followed, platform: str, account: str, mode: str, problem: str) -> None:
        """Record why a platform is not read. Once per change: an X-off chat would otherwise
        take SQLite's write lock every cycle, beside the posting engine, to write nothing."""
        key = (chat.key, platform)
        if self._noted.get(key) == (mode, problem):
            return
        self._noted[key] = (mode, problem)
        with self.db.write() as session:
            row = session.get(AnswerSource, (chat.key, platform))
            if row is None:
                session.add(
                    AnswerSource(
                        chat_key=chat.key,
                        platform=platform,
                        account_key=account,
                        mode=mode,
                        problem=problem,
                    )
                )
            elif row.mode != mode or row.problem != problem:
                row.mode, row.problem = mode, problem
