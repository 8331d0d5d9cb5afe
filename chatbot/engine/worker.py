"""``chatbot run``: publishers, dispatcher, timer and a clean shutdown on SIGTERM.

Shutdown: stop claiming, let in-flight requests finish and record their outcome, give back any
claim that was never sent. A worker killed with SIGKILL leaves at most the posts it was sending
in ``sending``; their lease expires and they are reconciled against the timeline, never resent.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import FrameType
from typing import TextIO

from chatbot.config import (
    BLUESKY_CREDENTIAL_NAMES,
    MASTODON_CREDENTIAL_NAMES,
    Config,
    credentials,
    x_credentials,
)
from chatbot.db.session import Database
from chatbot.engine import store
from chatbot.engine.clock import Clock, SystemClock
from chatbot.engine.dispatcher import Dispatcher
from chatbot.engine.jobqueue import JobQueue
from chatbot.engine.notify import Notifier, Problems
from chatbot.errors import ConfigError
from chatbot.publishers.base import Publisher, PublishError, Unauthorized
from chatbot.publishers.dryrun import DryRunPublisher
from chatbot.publishers.x import XPublisher
from chatbot.queue.apply import sync_accounts
from chatbot.timeutil import parse_duration

log = logging.getLogger("chatbot.worker")


def build_publishers(
    config: Config, clock: Clock, out: TextIO | None, db: Database | None = None
) -> dict[str, Publisher]:
    """One publisher per account; refuses to start when live credentials are missing.

    A partner that connected its account (``chatbot partner invite``) posts with its stored,
    encrypted tokens; every other account with credentials from the environment.
    """
    settings = config.settings
    dry_log = config.resolve(settings.worker.dryrun_log)
    publishers: dict[str, Publisher] = {}
    connected = {}
    if db is not None and settings.publisher != "dryrun":
        from chatbot.connect.credentials import connected_accounts

        connected = connected_accounts(db)
    for key, account in settings.accounts.items():
        if settings.publisher == "dryrun" or account.platform == "dryrun":
            publishers[key] = DryRunPublisher(
                key, account.handle, log_path=dry_log, out=out, clock=clock
            )
        elif db is not None and (key in connected or account.credentials == "invite"):
            from chatbot.connect.publishers import ConnectedAccountPublisher

            publishers[key] = ConnectedAccountPublisher(
                key, account.handle, config=config, db=db, clock=clock
            )
        elif account.platform == "x":
            creds = x_credentials(key, account)
            publishers[key] = XPublisher(
                key,
                account.handle,
                api_key=creds["api_key"],
                api_secret=creds["api_secret"],
                access_token=creds["access_token"],
                access_secret=creds["access_secret"],
                base_url=settings.platforms.x.api_base_url,
                timeout=settings.platforms.x.request_timeout,
            )
        elif account.platform == "mastodon":
            creds = credentials(key, account, MASTODON_CREDENTIAL_NAMES)
            publishers[key] = mastodon_publisher(config, key, creds["access_token"])
        elif account.platform == "bluesky":
            creds = credentials(key, account, BLUESKY_CREDENTIAL_NAMES)
            publishers[key] = bluesky_publisher(config, key, creds["app_password"], clock)
        else:  # pragma: no cover - the settings refuse unknown platforms
            raise ConfigError(f"accounts.{key}.platform: unknown platform", config.path)
    return publishers


def mastodon_publisher(config: Config, key: str, access_token: str) -> Publisher:
    from chatbot.publishers.mastodon import MastodonPublisher

    account = config.settings.accounts[key]
    mastodon = config.settings.platforms.mastodon
    return MastodonPublisher(
        key,
        account.handle,
        access_token=access_token,
        instance_url=account.instance_url or "",
        visibility=account.visibility,
        timeout=mastodon.request_timeout,
        fallback_max_length=mastodon.max_length,
        fallback_url_weight=mastodon.url_weight,
        cache_seconds=parse_duration(mastodon.instance_cache).total_seconds(),
    )


def bluesky_publisher(config: Config, key: str, app_password: str, clock: Clock) -> Publisher:
    from chatbot.publishers.bluesky import BlueskyPublisher

    account = config.settings.accounts[key]
    bluesky = config.settings.platforms.bluesky
    return BlueskyPublisher(
        key,
        account.handle,
        app_password=app_password,
        base_url=account.instance_url or bluesky.api_base_url,
        timeout=bluesky.request_timeout,
        max_image_bytes=bluesky.max_image_bytes,
        max_graphemes=bluesky.max_length,
        now=clock.now,
    )


class Worker:
    def __init__(
        self,
        config: Config,
        db: Database,
        clock: Clock | None = None,
        out: TextIO | None = sys.stdout,
        until_idle: bool = False,
        publishers: dict[str, Publisher] | None = None,
    ):
        self.config = config
        self.db = db
        self.clock = clock or SystemClock()
        self.until_idle = until_idle
        self.stop_event = threading.Event()
        self.stop_signal: int | None = None
        self.notifier = Notifier(config.settings.notify.urls)
        self.problems = Problems(self.notifier, self.clock.now)
        self.publishers = publishers or build_publishers(config, self.clock, out, db)
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
        )
        self._fingerprint: tuple[object, ...] | None = None
        self._control_version: int | None = None
        self.jobqueue = JobQueue(
            self.dispatcher.run_due,
            {
                "content": (parse_duration(worker.refresh), self._changed),
                "controls": (parse_duration(worker.control_poll), self._controlled),
            },
            self.problems.failed,
            after_step=self._check_idle,
            on_success=self.problems.succeeded,
        )

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
        with self.db.write() as session:
            sync_accounts(session, self.config)
        self._check_accounts()
        log.info(
            "worker started",
            extra={"event": "worker.started", "publisher": self.config.settings.publisher},
        )
        self.jobqueue.start()
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
        stop_timeout = parse_duration(self.config.settings.worker.stop_timeout)
        deadline = time.monotonic() + stop_timeout.total_seconds()
        self.dispatcher.stopping = True
        cycles_done = self.jobqueue.shutdown(timeout=max(0.0, deadline - time.monotonic()))
        self.executor.shutdown(wait=False, cancel_futures=True)
        sends_done = self.dispatcher.wait_for_sends(max(0.0, deadline - time.monotonic()))
        released, unknown = self.dispatcher.settle_unfinished(self.clock.now())
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
