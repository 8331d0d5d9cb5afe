"""Sending one claimed post and recording the outcome, as the engine's errors say.

What goes out is built from the claim alone (``claims.Sending``): no database read on the way.
The outcome is one transaction. The publisher's errors decide what happens next: rate limited
(the account waits until the reset), unauthorized or out of credit (the account is paused and a
person told), may exist (unknown: reconciled against the timeline, never resent), sent nothing
(retried later, up to ``worker.max_attempts``), or refused as it is (failed, with X's reason).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from chatbot.config import Config
from chatbot.content.media import ImageProblem, check_image
from chatbot.db.models import PostState
from chatbot.db.session import Database
from chatbot.engine import claims
from chatbot.engine.claims import Sending
from chatbot.engine.clock import Clock
from chatbot.publishers.base import (
    BadRequest,
    DuplicateContent,
    Media,
    OutcomeUnknown,
    OutgoingPost,
    Published,
    Publisher,
    PublishError,
    RateLimited,
    ReplyNotAllowed,
    TransientError,
    Unauthorized,
    UsageCapped,
)

log = logging.getLogger("chatbot.dispatch")
DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=15)


class Sender:
    def __init__(
        self,
        db: Database,
        config: Config,
        publishers: dict[str, Publisher],
        clock: Clock,
        notify: Callable[..., None],
    ):
        self.db = db
        self.config = config
        self.publishers = publishers
        self.clock = clock
        self.notify = notify
        worker = config.settings.worker
        self.reconcile_delay = worker.reconcile_delay
        self.retry_delay = worker.retry_delay
        self.max_attempts = worker.max_attempts
        self._renderer: Any = None

    def outgoing(self, post: Sending) -> OutgoingPost:
        if post.kind in ("answer-like", "answer-reply") and post.original_remote_id is None:
            raise BadRequest("the answer it acts on has no remote id")
        if post.kind == "answer-like":
            return OutgoingPost(
                post.key, like_of=post.original_remote_id, scheduled_at=post.scheduled_at
            )
        if post.kind == "answer-reply":
            return OutgoingPost(
                post.key,
                post.text,
                reply_to=post.original_remote_id,
                scheduled_at=post.scheduled_at,
            )
        if post.kind in ("repost", "answer-repost"):
            if post.original_remote_id is None:
                raise BadRequest("its original has no remote id to repost")
            return OutgoingPost(
                post.key, repost_of=post.original_remote_id, scheduled_at=post.scheduled_at
            )
        media: list[Media] = []
        if post.card:
            media.append(Media(self._card(post), post.alt or ""))
        if post.image:
            # Checked again here, not only at apply: the file may have changed since, and
            # nothing outside the content folder is ever uploaded.
            try:
                image = check_image(self.config.content_dir, post.image, post.platform)
            except ImageProblem as exc:
                raise BadRequest(str(exc)) from None
            media.append(Media(image.path, post.alt or ""))
        return OutgoingPost(
            post.key,
            post.text,
            tuple(media),
            reply_to=post.reply_to,
            scheduled_at=post.scheduled_at,
        )

    def _card(self, post: Sending) -> Path:
        """The post's card, rendered now unless the cache (``chatbot render``) has it."""
        from chatbot.cards.layout import CardFitError
        from chatbot.cards.render import Renderer
        from chatbot.errors import ContentError

        try:
            if self._renderer is None:
                self._renderer = Renderer(self.config.graphics_dir, self.config.cards_dir)
            path, _ = self._renderer.ensure(post.card or "", post.card_fields, post.platform)
        except (CardFitError, ContentError, OSError) as exc:
            raise BadRequest(f"card '{post.card}' could not be rendered: {exc}") from None
        return path

    def send(self, post: Sending) -> bool:
        """Publish and record; returns whether the outcome may make other posts due (a
        confirmed original others wait on)."""
        publisher = self.publishers.get(post.account)
        extra = {"post": post.key, "account": post.account}
        if publisher is None:
            self._fail(post, f"no publisher for account {post.account}")
            return True
        try:
            outgoing = self.outgoing(post)
            try:
                published = publisher.publish(outgoing)
            except ReplyNotAllowed as exc:
                if post.kind == "answer-reply":
                    raise  # a reply to someone, out of its thread, would make no sense
                # X's 2026 reply rules: fall back to a standalone post, and say so.
                log.warning(
                    "reply refused; posting standalone",
                    extra={"event": "post.reply_fallback", "detail": exc.message, **extra},
                )
                published = publisher.publish(replace(outgoing, reply_to=None))
        except PublishError as exc:
            self._handle_error(post, exc)
            return True
        except Exception as exc:
            # A bug after the request may have gone out: treat as unknown, reconcile, never resend.
            log.exception("unexpected error while sending", extra={"event": "post.error", **extra})
            self._handle_error(post, OutcomeUnknown(f"internal error: {type(exc).__name__}"))
            return True
        self._posted(post, published)
        return post.has_dependents

    def _posted(self, post: Sending, published: Published) -> None:
        now = self.clock.now()
        recorded = claims.finish(
            self.db,
            post.claim,
            now,
            PostState.POSTED,
            None,
            remote_id=published.remote_id,
            remote_url=published.url,
            posted_at=now,
            next_attempt_at=None,
        )
        log.info(
            "posted",
            extra={
                "event": "post.posted",
                "post": post.key,
                "account": post.account,
                "state": PostState.POSTED,
                "remote_id": published.remote_id,
                "recorded": recorded,
            },
        )

    def _fail(self, post: Sending, reason: str) -> None:
        claims.finish(self.db, post.claim, self.clock.now(), PostState.FAILED, reason)
        self.notify(f"Post {post.key} failed", reason, post=post.key, account=post.account)

    def _handle_error(self, post: Sending, exc: PublishError) -> None:
        now = self.clock.now()
        account = post.account
        extra = {"post": post.key, "account": account}
        not_sent: dict[str, object] = {"attempts": post.attempts - 1, "sent_at": None}
        if isinstance(exc, RateLimited):
            until = exc.reset_at or now + DEFAULT_RATE_LIMIT_WAIT
            claims.finish(
                self.db,
                post.claim,
                now,
                PostState.QUEUED,
                f"rate limited until {until:%H:%M:%S}Z",
                account=(account, {"rate_limited_until": until}),
                values=not_sent,
            )
            log.warning(
                "rate limited",
                extra={"event": "account.rate_limited", "until": until.isoformat(), **extra},
            )
        elif isinstance(exc, (Unauthorized, UsageCapped)):
            reason = f"paused: {exc.message}"
            claims.finish(
                self.db,
                post.claim,
                now,
                PostState.QUEUED,
                f"waiting: account {reason}",
                account=(account, {"paused": True, "paused_reason": reason}),
                audit_entry=("worker", "account.paused", account, {"reason": reason}),
                values=not_sent,
            )
            self.notify(
                f"Account {account} paused", f"{reason}. Fix it, then resume the account.", **extra
            )
        elif isinstance(exc, DuplicateContent):
            claims.finish(
                self.db, post.claim, now, PostState.UNKNOWN, exc.message, next_attempt_at=now
            )
            log.warning(exc.message, extra={"event": "post.unknown", **extra})
        elif exc.may_exist:
            claims.finish(
                self.db,
                post.claim,
                now,
                PostState.UNKNOWN,
                exc.message,
                next_attempt_at=now + self.reconcile_delay,
            )
            log.warning(exc.message, extra={"event": "post.unknown", **extra})
        elif isinstance(exc, TransientError):
            if post.attempts >= self.max_attempts:
                self._fail(post, f"gave up after {post.attempts} attempts: {exc.message}")
                return
            claims.finish(
                self.db,
                post.claim,
                now,
                PostState.QUEUED,
                exc.message,
                next_attempt_at=now + self.retry_delay,
                sent_at=None,
            )
            log.warning(exc.message, extra={"event": "post.retry", **extra})
        else:
            self._fail(post, exc.message)
