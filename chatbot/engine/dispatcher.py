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
from datetime import datetime, timedelta

from chatbot.config import Config
from chatbot.db.models import PostState
from chatbot.db.session import Database
from chatbot.engine import claims, store
from chatbot.engine.claims import Claim, Sending
from chatbot.engine.clock import Clock
from chatbot.engine.reconcile import reconcile_due
from chatbot.engine.sender import Sender
from chatbot.kinds import ACTION_KINDS, CHAT_KINDS
from chatbot.publishers.base import Publisher
from chatbot.queue.cost import month_spend
from chatbot.timeutil import format_duration

log = logging.getLogger("chatbot.dispatch")


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
        wake_when_drained: bool = True,
    ):
        """``wake_when_drained``: look again when the last send under way ends, so that a
        worker run ``--until-idle`` sees at once that nothing is left. A worker that runs for
        good does not need it (an outcome changes the posts table, which its refresh check
        notices), and it would run a second whole cycle for every post of a spread."""
        self.db = db
        self.config = config
        self.publishers = publishers
        self.clock = clock
        self.notify = notify
        self.executor = executor
        self.on_sent = on_sent
        self.wake_when_drained = wake_when_drained
        worker = config.settings.worker
        self.lease = worker.lease
        self.reconcile_delay = worker.reconcile_delay
        self.sender = Sender(db, config, publishers, clock, notify)
        lateness = config.settings.lateness
        self.windows = {
            "chat": lateness.chat,
            "campaign": lateness.campaign,
            "repost": lateness.repost,
        }
        self.stopping = False
        self.backlog = False
        self.capacity = 2 * worker.concurrency
        # Claims handed to the executor, and those whose send has started: at shutdown the
        # first kind is given back, the second may exist on the platform.
        self.in_flight: dict[Claim, Sending] = {}
        self.in_flight_lanes: dict[Claim, tuple[str, str] | None] = {}
        self.waiting_in_lane = False
        self._sending: set[Claim] = set()
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
        if store.housekeeping_due(self.db, now, self.windows["chat"]):
            self._housekeeping(now)
        settings = self.config.settings.worker
        reconcile_due(
            self.db,
            self.publishers,
            self.clock,
            self.reconcile_delay,
            settings.reconcile_attempts,
            self.notify,
        )
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
            # Paused and rate-limited accounts are not candidates; next_due wakes for the end
            # of a rate-limit wait.
            if cand.due_at is None:
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

    def _housekeeping(self, now: datetime) -> None:
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
            for sending in claims.claim_many(self.db, [c.post_id for c in batch], now, self.lease):
                cand = keys[sending.claim.post_id]
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
                    self.send(sending)
                else:
                    with self._sends_done:
                        self.in_flight[sending.claim] = sending
                        self.in_flight_lanes[sending.claim] = self._lane(cand)
                    self.executor.submit(self.send, sending)
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
        # A host's action on an answer is live chat too: late by minutes, it is stale.
        return "chat" if kind in CHAT_KINDS or kind in ACTION_KINDS else kind

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

    def send(self, sending: Sending) -> None:
        """Publish one claimed post and record the outcome. Runs in the executor's threads."""
        claim = sending.claim
        unblocks = False
        with self._sends_done:
            self._sending.add(claim)
        try:
            if self.stopping:
                claims.release_claims(self.db, [claim], self.clock.now())
            else:
                unblocks = self.sender.send(sending)
        finally:
            with self._sends_done:
                self._sending.discard(claim)
                self.in_flight.pop(claim, None)
                lane = self.in_flight_lanes.pop(claim, None)
                drained = not self.in_flight
                # A burst leaves posts unclaimed for lack of room: refill once half the room
                # is free (the send threads still have a queue of their own), not after every
                # send, which ran a whole cycle of queries to claim one post at a time.
                refill = self.backlog and len(self.in_flight) <= self.capacity // 2
                self._sends_done.notify_all()
            # Look again at once when this send can make something due (a repost waiting on
            # this original, the next chat post of its lane, posts left unclaimed for lack of
            # send capacity: see refill), and, for `--until-idle`, when it was the last one
            # under way: a cycle that ran while it was finishing saw it in flight, so the
            # worker could not stop then. (For a worker that runs for good, a time this
            # outcome set, a retry or a reconcile, is seen by the refresh check, which notices
            # every change to the posts table, within worker.refresh.)
            waiting = lane is not None and self.waiting_in_lane
            drained = drained and self.wake_when_drained
            if self.on_sent is not None and (unblocks or refill or waiting or drained):
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
            cut_off = [(c, self.in_flight[c].key) for c in self._sending if c in self.in_flight]
        released = claims.release_claims(self.db, waiting, now)
        unknown = []
        for claim, key in cut_off:
            reason = "the worker stopped while sending it; its outcome is read from the timeline"
            if claims.finish(self.db, claim, now, PostState.UNKNOWN, reason, next_attempt_at=now):
                unknown.append(key)
        return released, unknown
