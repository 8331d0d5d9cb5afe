"""Settling posts whose outcome is unknown by reading the account's own timeline.

X has no idempotency key: after a timeout, a 5xx or a duplicate-content refusal the post may
exist. Before anything is retried, the account's recent posts are read and matched by text (or,
for a repost, by the original it reposts). If a few reads cannot settle it, the post is held for
a person; it is never blindly resent.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from chatbot.db.models import Post, PostState
from chatbot.db.session import Database
from chatbot.engine.clock import Clock
from chatbot.publishers.base import Publisher, PublishError, RemotePost
from chatbot.text import urls_in

log = logging.getLogger("chatbot.reconcile")
_SPACE = re.compile(r"\s+")
# How far before the recorded send time to look: clocks on both sides drift a little.
CLOCK_SLACK = timedelta(minutes=2)


def normalize(text: str) -> str:
    """Text as X echoes it back: links rewritten to t.co, whitespace may differ."""
    for url in urls_in(text):
        text = text.replace(url, " ")
    text = re.sub(r"https://t\.co/\w+", " ", text)
    return _SPACE.sub(" ", text).strip().casefold()


def find_match(
    post: Post, original_remote: str | None, remote: list[RemotePost], taken: set[str]
) -> RemotePost | None:
    for item in remote:
        if item.remote_id in taken:
            continue
        if post.kind == "repost":
            if original_remote and item.repost_of == original_remote:
                return item
        elif item.repost_of is None and normalize(item.text) == normalize(post.text):
            return item
    return None


def reconcile_due(
    db: Database,
    publishers: dict[str, Publisher],
    clock: Clock,
    delay: timedelta,
    attempts: int,
    notify: Callable[..., None],
) -> int:
    """Try to settle every unknown post that is due for it; returns how many were settled."""
    now = clock.now()
    with db.read() as session:
        due = list(
            session.scalars(
                select(Post).where(
                    Post.state == PostState.UNKNOWN,
                    Post.held.is_(False),
                    (Post.next_attempt_at.is_(None)) | (Post.next_attempt_at <= now),
                )
            )
        )
        if not due:
            # The usual case, at every cycle: nothing to settle, so not a read of every post
            # ever sent (the ids below), which grew with the queue (10,000 ids a cycle in a
            # blast that had sent 10,000).
            return 0
        originals = {
            p.id: session.scalar(select(Post.remote_id).where(Post.id == p.depends_on_id))
            for p in due
            if p.depends_on_id is not None
        }
        taken: set[str] = {
            remote_id
            for remote_id in session.scalars(
                select(Post.remote_id).where(Post.remote_id.is_not(None), Post.kind != "repost")
            )
            if remote_id
        }
    by_account: dict[str, list[Post]] = defaultdict(list)
    for post in due:
        by_account[post.account_key].append(post)
    settled = 0
    for account, posts in by_account.items():
        publisher = publishers.get(account)
        if publisher is None:
            continue
        since = min((p.sent_at or p.scheduled_at) for p in posts) - CLOCK_SLACK
        try:
            remote = publisher.recent_posts(since)
        except PublishError as exc:
            log.warning(
                "timeline read failed",
                extra={"event": "reconcile.read_failed", "account": account, "error": exc.message},
            )
            with db.write() as session:
                for post in posts:
                    row = session.get(Post, post.id)
                    if row is not None and row.state == PostState.UNKNOWN:
                        row.next_attempt_at = now + delay
            continue
        with db.write() as session:
            for post in posts:
                row = session.get(Post, post.id)
                if row is None or row.state != PostState.UNKNOWN:
                    continue
                match = find_match(row, originals.get(row.id), remote, taken)
                if match is not None:
                    taken.add(match.remote_id)
                    row.state = PostState.POSTED
                    row.state_reason = (
                        "confirmed on the account's timeline after an unknown outcome"
                    )
                    row.remote_id = match.remote_id
                    row.remote_url = match.url
                    row.posted_at = match.created_at or now
                    row.updated_at = now
                    settled += 1
                    log.info(
                        "reconciled",
                        extra={
                            "event": "post.posted",
                            "post": row.key,
                            "account": account,
                            "state": row.state,
                        },
                    )
                    continue
                row.reconcile_count += 1
                row.updated_at = now
                if row.reconcile_count >= attempts:
                    row.held = True
                    row.state_reason = (
                        f"held for a person: not found on {account}'s timeline after "
                        f"{row.reconcile_count} reads; check the account, then mark it posted "
                        "(with its URL) or retry it"
                    )
                    notify(
                        f"Post {row.key} needs a person",
                        f"Its outcome is unknown and it was not found on {account}'s timeline. "
                        "It will not be resent automatically.",
                        post=row.key,
                        account=account,
                    )
                else:
                    row.next_attempt_at = now + delay
    return settled
