"""The timer. The only module that imports APScheduler.

APScheduler (3.x, memory job store) wakes the dispatcher at the next due time, so a post leaves
within milliseconds of its time with no polling delay. It keeps no state that matters: the
database is the source of truth and the schedule is rebuilt from it on start. Jobs receive an id
(never an object) and every error goes to one handler. A wake requested while a dispatch cycle
runs is remembered and honoured when the cycle ends, never dropped.

Shutdown, as python-telegram-bot's ``JobQueue.stop`` does it: first a stopping flag, set under
the queue's lock, so that no job is added once shutdown starts; then the running cycle is
drained; only then is APScheduler shut down. (APScheduler 3.x holds its job-store lock while it
waits for running jobs, and a cycle ends by adding its next wake, which needs that lock: shutting
the scheduler down first deadlocks whenever a cycle ends at that moment.)
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_ERROR, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger("chatbot.jobqueue")
_QUEUES: dict[str, JobQueue] = {}
_IDS = itertools.count(1)
ERROR_RETRY = timedelta(seconds=5)


def _run_job(queue_id: str, job: str) -> None:
    queue = _QUEUES.get(queue_id)
    if queue is not None:
        queue.run_job(job)


class JobQueue:
    def __init__(
        self,
        step: Callable[[], datetime | None],
        checks: dict[str, tuple[timedelta, Callable[[], bool]]],
        on_error: Callable[[BaseException], None],
        after_step: Callable[[], None] | None = None,
        on_success: Callable[[], None] | None = None,
    ):
        """``checks``: name -> (interval, has-anything-changed); a change wakes the step now.
        ``on_success``: called after each step that raised nothing (a problem has cleared)."""
        self.id = f"jobqueue-{next(_IDS)}"
        self._step = step
        self._checks = checks
        self._on_error = on_error
        self._after_step = after_step
        self._on_success = on_success
        # One condition guards the flags below; shutdown waits on it for running jobs to end.
        self._lock = threading.Condition()
        self._running = False
        self._active = 0  # jobs (cycles and checks) inside run_job
        self.stopping = False
        self._pending: datetime | None = None
        self._scheduled_for: datetime | None = None
        self._scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            # One thread per check and one for the cycle: a slow check (reading a platform's
            # answers) never delays a post.
            executors={"default": ThreadPoolExecutor(len(checks) + 1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        self._scheduler.add_listener(self._job_error, EVENT_JOB_ERROR)

    def start(self) -> None:
        _QUEUES[self.id] = self
        self._scheduler.start()
        for name, (interval, _) in self._checks.items():
            self._scheduler.add_job(
                _run_job,
                "interval",
                seconds=interval.total_seconds(),
                args=[self.id, f"check:{name}"],
                id=f"check:{name}",
            )
        self.wake_now()

    def wake_now(self) -> None:
        self.wake_at(datetime.now(UTC))

    def wake_at(self, when: datetime) -> None:
        with self._lock:
            if self.stopping:
                return  # checked under the lock: no job is added once shutdown has begun
            if self._running:
                self._pending = when if self._pending is None else min(self._pending, when)
                return
            if self._scheduled_for is not None and self._scheduled_for <= when:
                return
            self._scheduled_for = when
            self._scheduler.add_job(
                _run_job,
                "date",
                run_date=when,
                args=[self.id, "dispatch"],
                id="dispatch",
                replace_existing=True,
                # A cycle adds its next wake before its own job has returned; a wake due at
                # once must not be refused as a second instance (APScheduler would drop it for
                # good). Cycles never overlap anyway: _dispatch lets one run at a time.
                max_instances=3,
            )

    def run_job(self, job: str) -> None:
        with self._lock:
            if self.stopping:
                return
            self._active += 1
        try:
            if job.startswith("check:"):
                _, changed = self._checks[job.removeprefix("check:")]
                if changed():
                    self.wake_now()
                return
            self._dispatch()
        finally:
            with self._lock:
                self._active -= 1
                self._lock.notify_all()

    def _dispatch(self) -> None:
        with self._lock:
            self._scheduled_for = None
            if self._running:  # the cycle still finishing will run the step again for this
                self._pending = datetime.now(UTC)
                return
            self._running = True
        next_wake: datetime | None = None
        try:
            while True:
                try:
                    next_wake = self._step()
                except Exception as exc:
                    self._on_error(exc)
                    next_wake = datetime.now(UTC) + ERROR_RETRY
                else:
                    if self._on_success is not None:
                        self._on_success()
                if self._after_step is not None:
                    self._after_step()
                with self._lock:
                    pending, self._pending = self._pending, None
                    stopping = self.stopping
                if stopping:
                    return
                if pending is not None and pending <= datetime.now(UTC):
                    continue
                if pending is not None:
                    next_wake = pending if next_wake is None else min(pending, next_wake)
                break
        finally:
            with self._lock:
                self._running = False
                # A wake that arrived after the last look (a dispatch refused above, a check)
                # is honoured here, never lost.
                late, self._pending = self._pending, None
        if late is not None:
            next_wake = late if next_wake is None else min(late, next_wake)
        if next_wake is not None:
            self.wake_at(next_wake)

    def _job_error(self, event: JobExecutionEvent) -> None:
        if event.exception is not None:
            self._on_error(event.exception)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Stop the timers: no new job from now on, wait up to ``timeout`` seconds for a running
        cycle or check to end, then stop APScheduler. Returns whether they all ended (False:
        one is stuck, e.g. in a hung database call; it is left behind, not waited for)."""
        with self._lock:
            self.stopping = True
            drained = self._lock.wait_for(lambda: self._active == 0, timeout)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=drained)
        _QUEUES.pop(self.id, None)
        return drained
