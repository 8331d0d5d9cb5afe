"""One dispatch cycle: settle, skip, hold, claim and send what is due; say when to wake next.

The dispatcher holds no schedule of its own: every cycle reads the posts table, so whatever
was applied, approved or paused since the last cycle is taken into account. ``run_due`` is the
processing step the tests call directly with a fake clock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from chatbot.config import Config
from chatbot.content.media import ImageProblem, check_image
from chatbot.content.model import CHAT_KINDS
from chatbot.db.models import Post, PostState
from chatbot.db.session import Database
from chatbot.engine import store
from chatbot.engine.clock import Clock
from chatbot.engine.reconcile import reconcile_due
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
from chatbot.queue.cost import month_spend
from chatbot.timeutil import format_duration, parse_duration

log = logging.getLogger("chatbot.dispatch")
DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=15)


class Dispatcher:
    def __init__(
        self,
        db: Database,
        config: Config,
        publishers: dict[str, Publisher],
        clock: Clock,
        notify: Callable[..., None],
        executor: Executor | None = None,
        on_sent: Callable[[], None] | None = None,
    ):
        self.db = db
        self.config = config
        self.publishers = publishers
        self.clock = clock
        self.notify = notify
        self.executor = executor
        self.on_sent = on_sent
        worker = config.settings.worker
        self.lease = parse_duration(worker.lease)
        self.reconcile_delay = parse_duration(worker.reconcile_delay)
        self.retry_delay = parse_duration(worker.retry_delay)
        lateness = config.settings.lateness
        self.windows = {
            "chat": parse_duration(lateness.chat),
            "campaign": parse_duration(lateness.campaign),
            "repost": parse_duration(lateness.repost),
        }
        self.stopping = False
        self._renderer: Any = None
        self.backlog = False
        self.capacity = 2 * worker.concurrency
        # Claims handed to the executor (key for logs), and those whose send has started: at
        # shutdown the first kind is given back, the second may exist on the platform.
        self.in_flight: dict[store.Claim, str] = {}
        self.in_flight_lanes: dict[store.Claim, tuple[str, str] | None] = {}
        self.waiting_in_lane = False
        self._sending: set[store.Claim] = set()
        self._sends_done = threading.Condition()

    # -- the cycle -------------------------------------------------------------------------

    def run_due(self) -> datetime | None:
        """Do everything that is due now; return when the next thing will be due.

        Without an executor, sends happen inline; a confirmed original can make its reposts
        due, so the cycle repeats until it sends nothing more.
        """
        while True:
            next_wake, claimed = self._cycle()
            if self.executor is not None or not claimed or self.stopping:
                return next_wake

    def _cycle(self) -> tuple[datetime | None, int]:
        now = self.clock.now()
        store.promote_approved(self.db, now)
        for post in store.skip_unapproved(self.db, now, self.windows["chat"]):
            log.warning(
                post.state_reason,
                extra={"event": "post.skipped", "post": post.key, "account": post.account_key},
            )
            self.notify(
                f"Post {post.key} skipped: not approved",
                f"{post.state_reason}. Approve chat posts before they are due.",
                post=post.key,
                account=post.account_key,
            )
        for key in store.expire_leases(self.db, now):
            log.warning(
                "lease expired",
                extra={"event": "post.unknown", "post": key, "state": PostState.UNKNOWN},
            )
        settings = self.config.settings.worker
        reconcile_due(
            self.db,
            self.publishers,
            self.clock,
            self.reconcile_delay,
            settings.reconcile_attempts,
            self.notify,
        )
        accounts = store.accounts(self.db)
        spend: dict[str, float] = {}
        eligible: list[store.Candidate] = []
        next_wake: datetime | None = None

        def wake_at(when: datetime) -> None:
            nonlocal next_wake
            next_wake = when if next_wake is None or when < next_wake else next_wake

        due = store.candidates(self.db, now, limit=self.capacity * 4)
        if len(due) >= self.capacity * 4:
            wake_at(now)  # more are due than one cycle reads: come straight back
        # One account's chat posts go out one after another, in their order: Q2 waits until
        # Q1 has an outcome, even when Q1 is slower to send (a card to render).
        chat_lanes = {lane for lane in self.in_flight_lanes.values() if lane is not None}
        self.waiting_in_lane = False
        for cand in due:
            if self.stopping:
                break
            account = accounts.get(cand.account)
            if cand.original_state in (
                PostState.FAILED,
                PostState.SKIPPED,
                PostState.CANCELLED,
            ):
                self._skip(
                    cand.post_id,
                    cand.key,
                    cand.account,
                    now,
                    f"its original was {cand.original_state}, so there is nothing to repost",
                )
                continue
            if cand.due_at is None or account is None or account.paused:
                continue
            if account.rate_limited_until is not None and account.rate_limited_until > now:
                wake_at(account.rate_limited_until)
                continue
            if cand.due_at > now:
                wake_at(cand.due_at)
                continue
            window = self._window(cand.kind)
            if now - cand.due_at > window:
                self._skip(
                    cand.post_id,
                    cand.key,
                    cand.account,
                    now,
                    f"due {cand.due_at:%Y-%m-%d %H:%M:%S}Z but the worker reached it "
                    f"{format_duration(now - cand.due_at)} late, past the "
                    f"{format_duration(window)} lateness window for "
                    f"{self._kind_group(cand.kind)} posts",
                )
                continue
            lane = self._lane(cand)
            if lane is not None and lane in chat_lanes:
                self.waiting_in_lane = True
                continue
            if not self._within_budget(cand, spend, now):
                continue
            spend[cand.account] = spend.get(cand.account, 0.0) + cand.estimated_cost
            if lane is not None:
                chat_lanes.add(lane)
            eligible.append(cand)
        claimed = self._claim_and_send(eligible, now)
        following = store.next_due(self.db, now)
        if following is not None:
            wake_at(following)
        return next_wake, claimed

    def _claim_and_send(self, eligible: list[store.Candidate], now: datetime) -> int:
        """Claim in batches no larger than the free send capacity, so that several workers
        share a burst instead of one claiming everything; the rest waits for the next cycle."""
        keys = {c.post_id: c for c in eligible}
        claimed = 0
        self.backlog = False
        while eligible and not self.stopping:
            room = self.capacity - len(self.in_flight) if self.executor is not None else 1
            if room <= 0:
                self.backlog = True
                break
            batch, eligible = eligible[:room], eligible[room:]
            for claim in store.claim_many(self.db, [c.post_id for c in batch], now, self.lease):
                cand = keys[claim.post_id]
                claimed += 1
                log.info(
                    "claimed",
                    extra={
                        "event": "post.sending",
                        "post": cand.key,
                        "account": cand.account,
                        "state": PostState.SENDING,
                    },
                )
                if self.executor is None:
                    self.send(claim)
                else:
                    with self._sends_done:
                        self.in_flight[claim] = cand.key
                        self.in_flight_lanes[claim] = self._lane(cand)
                    self.executor.submit(self.send, claim)
        return claimed

    @staticmethod
    def _lane(cand: store.Candidate) -> tuple[str, str] | None:
        """Chat originals of one account form a lane: one at a time, in order."""
        if cand.chat is None or cand.kind not in CHAT_KINDS or cand.original_state is not None:
            return None
        return cand.account, cand.chat

    def _kind_group(self, kind: str) -> str:
        if kind == "partner":  # a partner's own wording is late or not like a repost
            return "repost"
        return "chat" if kind in CHAT_KINDS else kind

    def _window(self, kind: str) -> timedelta:
        return self.windows[self._kind_group(kind)]

    def _skip(self, post_id: int, key: str, account: str, now: datetime, reason: str) -> None:
        with self.db.write() as session:
            store.set_state(session, post_id, now, PostState.SKIPPED, reason)
        log.warning(
            reason,
            extra={
                "event": "post.skipped",
                "post": key,
                "account": account,
                "state": PostState.SKIPPED,
            },
        )

    def _within_budget(self, cand: store.Candidate, spend: dict[str, float], now: datetime) -> bool:
        account = self.config.settings.accounts.get(cand.account)
        budget = account.monthly_budget_usd if account else None
        if budget is None:
            return True
        if cand.account not in spend:
            with self.db.read() as session:
                spend[cand.account] = month_spend(session, cand.account, now)
        if spend[cand.account] + cand.estimated_cost <= budget + 1e-9:
            return True
        reason = (
            f"held: sending it would take {cand.account}'s API spend this month to "
            f"${spend[cand.account] + cand.estimated_cost:.3f}, over its ${budget:.2f} budget; "
            "raise monthly_budget_usd or release it next month"
        )
        with self.db.write() as session:
            store.set_state(session, cand.post_id, now, PostState.QUEUED, reason, held=True)
        self.notify(
            f"Post {cand.key} held: over budget", reason, post=cand.key, account=cand.account
        )
        return False

    # -- sending one post ------------------------------------------------------------------

    def _outgoing(self, post: Post) -> OutgoingPost:
        with self.db.read() as session:
            original = session.get(Post, post.depends_on_id) if post.depends_on_id else None
            previous = None
            if post.reply_to_previous and post.chat_key:
                from sqlalchemy import select

                previous = session.scalars(
                    select(Post.remote_id)
                    .where(
                        Post.chat_key == post.chat_key,
                        Post.account_key == post.account_key,
                        Post.depends_on_id.is_(None),
                        Post.seq < post.seq,
                        Post.state == PostState.POSTED,
                    )
                    .order_by(Post.seq.desc())
                    .limit(1)
                ).first()
        if post.kind == "repost":
            if original is None or original.remote_id is None:
                raise BadRequest("its original has no remote id to repost")
            return OutgoingPost(
                post.key, repost_of=original.remote_id, scheduled_at=post.scheduled_at
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
            reply_to=previous,
            scheduled_at=post.scheduled_at,
        )

    def _card(self, post: Post) -> Path:
        """The post's card, rendered now unless the cache (``chatbot render``) has it."""
        from chatbot.cards.layout import CardFitError
        from chatbot.cards.render import Renderer
        from chatbot.errors import ContentError

        try:
            if self._renderer is None:
                self._renderer = Renderer(self.config.graphics_dir, self.config.cards_dir)
            path, _ = self._renderer.ensure(post.card or "", post.card_fields or {}, post.platform)
        except (CardFitError, ContentError, OSError) as exc:
            raise BadRequest(f"card '{post.card}' could not be rendered: {exc}") from None
        return path

    def send(self, claim: store.Claim) -> None:
        """Publish one claimed post and record the outcome. Runs in the executor's threads."""
        unblocks = False
        with self._sends_done:
            self._sending.add(claim)
        try:
            unblocks = self._send(claim)
        finally:
            with self._sends_done:
                self._sending.discard(claim)
                self.in_flight.pop(claim, None)
                lane = self.in_flight_lanes.pop(claim, None)
                self._sends_done.notify_all()
            # Look again at once only when this send can make something due: a repost waiting
            # on this original, the next chat post of its lane, or posts left unclaimed for
            # lack of send capacity.
            waiting = lane is not None and self.waiting_in_lane
            if self.on_sent is not None and (unblocks or self.backlog or waiting):
                self.on_sent()

    def wait_for_sends(self, timeout: float, queued_too: bool = False) -> bool:
        """Wait up to ``timeout`` seconds for the sends under way (and, with ``queued_too``,
        those handed to the executor but not started); True if none is left."""
        with self._sends_done:
            if queued_too:
                return self._sends_done.wait_for(lambda: not self.in_flight, timeout)
            return self._sends_done.wait_for(lambda: not self._sending, timeout)

    def settle_unfinished(self, now: datetime) -> tuple[int, list[str]]:
        """At shutdown: give back every claim whose send never started, and record the ones
        still sending as unknown (the request may have reached the platform), so that none is
        left in ``sending`` to wait for its lease. Returns (released, keys held as unknown)."""
        with self._sends_done:
            waiting = [c for c in self.in_flight if c not in self._sending]
            cut_off = [(c, self.in_flight.get(c, str(c.post_id))) for c in self._sending]
        released = store.release_claims(self.db, waiting, now)
        unknown = []
        for claim, key in cut_off:
            reason = "the worker stopped while sending it; its outcome is read from the timeline"
            if store.finish(self.db, claim, now, PostState.UNKNOWN, reason, next_attempt_at=now):
                unknown.append(key)
        return released, unknown

    def _send(self, claim: store.Claim) -> bool:
        """Returns whether the outcome may make other posts due (a confirmed original)."""
        with self.db.read() as session:
            post = session.get(Post, claim.post_id)
        if post is None:
            return False
        if self.stopping:
            store.release_claims(self.db, [claim], self.clock.now())
            return False
        publisher = self.publishers.get(post.account_key)
        extra = {"post": post.key, "account": post.account_key}
        if publisher is None:
            self._fail(claim, post, f"no publisher for account {post.account_key}")
            return True
        try:
            outgoing = self._outgoing(post)
            try:
                published = publisher.publish(outgoing)
            except ReplyNotAllowed as exc:
                # X's 2026 reply rules: fall back to a standalone post, and say so.
                log.warning(
                    "reply refused; posting standalone",
                    extra={"event": "post.reply_fallback", "detail": exc.message, **extra},
                )
                published = publisher.publish(replace(outgoing, reply_to=None))
        except PublishError as exc:
            self._handle_error(claim, post, exc)
            return True
        except Exception as exc:
            # A bug after the request may have gone out: treat as unknown, reconcile, never resend.
            log.exception("unexpected error while sending", extra={"event": "post.error", **extra})
            self._handle_error(claim, post, OutcomeUnknown(f"internal error: {type(exc).__name__}"))
            return True
        self._posted(claim, post, published)
        return post.depends_on_id is None and store.has_dependents(self.db, post.id)

    def _posted(self, claim: store.Claim, post: Post, published: Published) -> None:
        now = self.clock.now()
        recorded = store.finish(
            self.db,
            claim,
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
                "account": post.account_key,
                "state": PostState.POSTED,
                "remote_id": published.remote_id,
                "recorded": recorded,
            },
        )

    def _fail(self, claim: store.Claim, post: Post, reason: str) -> None:
        store.finish(self.db, claim, self.clock.now(), PostState.FAILED, reason)
        self.notify(f"Post {post.key} failed", reason, post=post.key, account=post.account_key)

    def _handle_error(self, claim: store.Claim, post: Post, exc: PublishError) -> None:
        now = self.clock.now()
        account = post.account_key
        extra = {"post": post.key, "account": account}
        if isinstance(exc, RateLimited):
            until = exc.reset_at or now + DEFAULT_RATE_LIMIT_WAIT
            store.update_account(self.db, account, rate_limited_until=until)
            store.finish(
                self.db,
                claim,
                now,
                PostState.QUEUED,
                f"rate limited until {until:%H:%M:%S}Z",
                attempts=post.attempts - 1,
                sent_at=None,
            )
            log.warning(
                "rate limited",
                extra={"event": "account.rate_limited", "until": until.isoformat(), **extra},
            )
        elif isinstance(exc, (Unauthorized, UsageCapped)):
            reason = f"paused: {exc.message}"
            store.update_account(self.db, account, paused=True, paused_reason=reason)
            store.finish(
                self.db,
                claim,
                now,
                PostState.QUEUED,
                f"waiting: account {reason}",
                attempts=post.attempts - 1,
                sent_at=None,
            )
            store.add_audit(self.db, now, "worker", "account.paused", account, reason=reason)
            self.notify(
                f"Account {account} paused", f"{reason}. Fix it, then resume the account.", **extra
            )
        elif isinstance(exc, DuplicateContent):
            store.finish(self.db, claim, now, PostState.UNKNOWN, exc.message, next_attempt_at=now)
            log.warning(exc.message, extra={"event": "post.unknown", **extra})
        elif exc.may_exist:
            store.finish(
                self.db,
                claim,
                now,
                PostState.UNKNOWN,
                exc.message,
                next_attempt_at=now + self.reconcile_delay,
            )
            log.warning(exc.message, extra={"event": "post.unknown", **extra})
        elif isinstance(exc, TransientError):
            if post.attempts >= self.config.settings.worker.max_attempts:
                self._fail(claim, post, f"gave up after {post.attempts} attempts: {exc.message}")
                return
            store.finish(
                self.db,
                claim,
                now,
                PostState.QUEUED,
                exc.message,
                next_attempt_at=now + self.retry_delay,
                sent_at=None,
            )
            log.warning(exc.message, extra={"event": "post.retry", **extra})
        else:
            self._fail(claim, post, exc.message)
