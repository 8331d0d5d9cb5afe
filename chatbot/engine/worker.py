"""``chatbot run``: dispatcher, timer and a clean shutdown on SIGTERM, around the publishers
it is handed.

Shutdown: stop claiming, let in-flight requests finish and record their outcome, give back any
claim that was never sent. A worker killed with SIGKILL leaves at most the posts it was sending
in ``sending``; their lease expires and they are reconciled against the timeline, never resent.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from types import FrameType
from typing import Protocol

from chatbot.config import Config
from chatbot.db.session import Database
from chatbot.engine import store
from chatbot.engine.clock import Clock, SystemClock
from chatbot.engine.dispatcher import Dispatcher
from chatbot.engine.jobqueue import JobQueue
from chatbot.engine.memory import limit_malloc_arenas
from chatbot.engine.notify import Notifier, Problems
from chatbot.publishers.base import Publisher, PublishError, Unauthorized
from chatbot.queue.accounts import sync_accounts

log = logging.getLogger("chatbot.worker")


class Control(Protocol):
    """Serves commands while the worker runs; ``on_done`` is called after each one."""

    on_done: Callable[[], None]

    def start(self) -> bool: ...

    def close(self, timeout: float) -> None: ...


class Worker:
    def __init__(
        self,
        config: Config,
        db: Database,
        publishers: dict[str, Publisher],
        clock: Clock | None = None,
        until_idle: bool = False,
        control: Control | None = None,
    ):
        """``publishers``: one per account, built by the caller (``chatbot run`` builds them
        from the config and the stored connections), as python-telegram-bot's Application is
        handed its Bot. ``control``: what serves the CLI's live controls while the worker runs
        (``chatbot.cli.control``); started with the timer, stopped at shutdown once
        nothing more is claimed."""
        self.config = config
        self.db = db
        self.clock = clock or SystemClock()
        self.until_idle = until_idle
        self.stop_event = threading.Event()
        self.stop_signal: int | None = None
        self.notifier = Notifier(config.settings.notify.urls)
        self.problems = Problems(self.notifier, self.clock.now)
        self.publishers = publishers
        worker = config.settings.worker
        self.executor = ThreadPoolExecutor(worker.concurrency, thread_name_prefix="send")
        self.dispatcher = Dispatcher(
            db,
            config,
            self.publishers,
            self.clock,
            self.notifier,
            self.executor,
            on_sent=self._sent,
            wake_when_drained=until_idle,
        )
        # Imported here: a command that never runs the worker does not load it.
        from chatbot.answers.follower import Follower

        self.follower = Follower(config, db, self.publishers, self.clock.now)
        self._fingerprint: tuple[object, ...] | None = None
        self._control_version: int | None = None
        self.jobqueue = JobQueue(
            self.dispatcher.run_due,
            {
                "content": (worker.refresh, self._changed),
                "controls": (worker.control_poll, self._controlled),
                "answers": (config.settings.answers.poll_interval, self._follow_answers),
                "answer-stream": (timedelta(milliseconds=100), self._drain_answers),
            },
            self.problems.failed,
            after_step=self._check_idle,
            on_success=self.problems.succeeded,
        )
        self.control = control
        if control is not None:
            control.on_done = self.jobqueue.wake_now  # act on a control at once, not next poll

    def _sent(self) -> None:
        # An original confirmed may make its reposts due: look again at once.
        self.jobqueue.wake_now()

    def _changed(self) -> bool:
        current = store.fingerprint(self.db)
        changed = current != self._fingerprint
        self._fingerprint = current
        return changed

    def _controlled(self) -> bool:
        # A host paused, delayed or pushed a chat: react within a fraction of a second.
        current = store.control_version(self.db)
        changed = current != self._control_version
        self._control_version = current
        return changed

    def _follow_answers(self) -> bool:
        # Reading answers never makes a post due: it only writes the answers tables.
        self.follower.cycle()
        return False

    def _drain_answers(self) -> bool:
        self.follower.drain()
        return False

    def _check_idle(self) -> None:
        if self.until_idle and not self.dispatcher.in_flight and store.is_idle(self.db):
            self.stop_event.set()

    def _check_accounts(self) -> None:
        now = self.clock.now()
        for key, publisher in self.publishers.items():
            try:
                publisher.check_credentials()
            except Unauthorized as exc:
                reason = f"paused: {exc.message}"
                store.update_account(self.db, key, paused=True, paused_reason=reason)
                store.add_audit(self.db, now, "worker", "account.paused", key, reason=reason)
                self.notifier(f"Account {key} paused", reason, account=key)
            except PublishError as exc:
                log.warning(
                    "credential check failed",
                    extra={"event": "account.check_failed", "account": key, "error": exc.message},
                )

    def install_signal_handlers(self) -> None:
        def stop(signum: int, _frame: FrameType | None) -> None:
            # Only set a flag here: taking a lock (Event.set, logging) inside a signal handler
            # can deadlock with the main thread that holds it. ``run`` polls the flag.
            self.stop_signal = signum

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def run(self) -> bool:
        """Post until stopped (a signal, or idle with ``until_idle``). Returns whether every
        thread ended within ``worker.stop_timeout`` (see ``shutdown``)."""
        limit_malloc_arenas()  # before any send thread allocates
        with self.db.write() as session:
            sync_accounts(session, self.config)
        self._check_accounts()
        # Everything loaded so far (the libraries, the config, the publishers) lives as long as
        # the worker: frozen out of the cyclic collector's reach, so that a full collection
        # scans only what the worker makes while it runs, not the whole heap (a pause of tens
        # of milliseconds, measured as the tail of a busy chat night's lateness).
        gc.collect()
        gc.freeze()
        log.info(
            "worker started",
            extra={"event": "worker.started", "publisher": self.config.settings.publisher},
        )
        self.jobqueue.start()
        if self.control is not None:
            self.control.start()
        try:
            while self.stop_signal is None and not self.stop_event.wait(0.2):
                pass
            if self.stop_signal is not None:
                log.info("stopping", extra={"event": "worker.stopping", "signal": self.stop_signal})
        finally:
            clean = self.shutdown()
        return clean

    def shutdown(self) -> bool:
        """Stop within ``worker.stop_timeout``: no new claim from now on; the running cycle is
        drained; sends under way may finish until the deadline; claims never sent are given
        back and a send still under way at the deadline is recorded as ``unknown`` (it may have
        reached the platform: it is settled from the timeline at the next start, never resent),
        so nothing is left in ``sending`` to wait for its lease. Returns whether every thread
        ended; if not, the caller must exit without waiting for them."""
        stop_timeout = self.config.settings.worker.stop_timeout
        deadline = time.monotonic() + stop_timeout.total_seconds()
        self.dispatcher.stopping = True
        if self.control is not None:  # a command under way is one short transaction
            self.control.close(timeout=max(0.0, deadline - time.monotonic()) / 2)
        cycles_done = self.jobqueue.shutdown(timeout=max(0.0, deadline - time.monotonic()))
        self.executor.shutdown(wait=False, cancel_futures=True)
        sends_done = self.dispatcher.wait_for_sends(max(0.0, deadline - time.monotonic()))
        released, unknown = self.dispatcher.settle_unfinished(self.clock.now())
        self.follower.close()
        if sends_done:
            for publisher in self.publishers.values():
                publisher.close()
        log.info(
            "worker stopped",
            extra={
                "event": "worker.stopped",
                "released": released,
                "cut_off": ",".join(unknown),
                "clean": cycles_done and sends_done,
            },
        )
        return cycles_done and sends_done
