"""The timer (``chatbot.engine.jobqueue``): wakes, one error handler, and a shutdown that always
returns. Threads here are APScheduler's own; every wait is on an event with a deadline."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from chatbot.engine.jobqueue import JobQueue

HOUR = {"content": (timedelta(hours=1), lambda: False)}


def test_timer_wakes_at_the_earliest_time_and_never_drops_a_wake() -> None:
    calls: list[datetime] = []
    first_running = threading.Event()
    release = threading.Event()
    done = threading.Event()

    def step() -> datetime | None:
        calls.append(datetime.now(UTC))
        if len(calls) == 1:
            first_running.set()
            release.wait(5)
        if len(calls) == 2:
            done.set()
        return None

    queue = JobQueue(step, HOUR, lambda exc: None)
    queue.start()  # wakes now: the first step runs and blocks
    assert first_running.wait(5)
    queue.wake_now()  # requested while the step runs: must not be lost
    release.set()
    assert done.wait(5), "the wake requested during a running cycle was dropped"
    queue.wake_at(datetime.now(UTC) + timedelta(hours=2))
    queue.wake_at(datetime.now(UTC) + timedelta(hours=1))
    assert queue._scheduled_for is not None
    assert queue._scheduled_for - datetime.now(UTC) < timedelta(hours=1, seconds=1)
    assert queue.shutdown(timeout=5)
    assert len(calls) == 2


def test_timer_sends_step_errors_to_the_one_handler() -> None:
    errors: list[BaseException] = []
    seen = threading.Event()

    def step() -> datetime | None:
        raise RuntimeError("boom")

    def handler(exc: BaseException) -> None:
        errors.append(exc)
        seen.set()

    queue = JobQueue(step, HOUR, handler)
    queue.start()
    assert seen.wait(5)
    assert queue.shutdown(timeout=5)
    assert isinstance(errors[0], RuntimeError)


def test_shutdown_while_a_cycle_is_inside_wake_at_never_deadlocks() -> None:
    """The race behind SIGTERM hangs: a cycle ends in ``wake_at -> add_job`` (which needs
    APScheduler's job-store lock) just as shutdown starts (APScheduler holds that lock while it
    waits for running jobs). The cycle is held inside ``wake_at`` until shutdown has started
    (APScheduler's lock taken, or the queue's own stopping flag set), then let go."""
    entered = threading.Event()
    release = threading.Event()
    main = threading.get_ident()
    queue = JobQueue(lambda: datetime.now(UTC) + timedelta(hours=1), HOUR, lambda exc: None)
    real_wake_at = queue.wake_at

    def held_wake_at(when: datetime) -> None:
        if threading.get_ident() != main:  # the cycle's own wake, not start()'s
            entered.set()
            release.wait(10)
        real_wake_at(when)

    queue.wake_at = held_wake_at  # type: ignore[method-assign]
    queue.start()
    assert entered.wait(5), "the first cycle did not run"

    def shutdown_started() -> bool:
        if getattr(queue, "stopping", False):
            return True
        lock = queue._scheduler._jobstores_lock
        if lock.acquire(blocking=False):
            lock.release()
            return False
        return True

    finished = threading.Event()
    stopper = threading.Thread(target=lambda: (queue.shutdown(timeout=5), finished.set()))
    stopper.daemon = True
    stopper.start()
    deadline = datetime.now(UTC) + timedelta(seconds=5)
    while not shutdown_started() and datetime.now(UTC) < deadline:
        threading.Event().wait(0.005)
    assert shutdown_started(), "shutdown never started"
    release.set()
    assert finished.wait(5), "shutdown deadlocked with the cycle's wake_at"
    assert not queue._scheduler.running


def test_no_job_is_added_once_shutdown_starts() -> None:
    queue = JobQueue(lambda: None, HOUR, lambda exc: None)
    queue.start()
    assert queue.shutdown(timeout=5)
    before = queue._scheduled_for
    queue.wake_at(datetime.now(UTC) + timedelta(minutes=1))  # a late wake from a send thread
    queue.wake_now()
    assert queue._scheduled_for == before
    assert queue._scheduler.get_jobs() == []


def test_shutdown_gives_up_on_a_stuck_cycle_after_its_timeout() -> None:
    """A cycle stuck in a hung database call cannot hold the worker past its stop timeout."""
    stuck = threading.Event()
    release = threading.Event()

    def step() -> datetime | None:
        stuck.set()
        release.wait(10)
        return None

    queue = JobQueue(step, HOUR, lambda exc: None)
    queue.start()
    assert stuck.wait(5)
    assert queue.shutdown(timeout=0.2) is False  # said honestly: the cycle did not finish
    release.set()


def test_a_wake_added_while_the_cycle_is_finishing_is_never_dropped() -> None:
    """A cycle ends by adding its next wake; when that wake is due at once, APScheduler may try
    to run it before the finishing cycle has returned. With one instance allowed it dropped the
    run (a date job is then gone) and the queue, still believing a wake was scheduled, never
    woke again: an --until-idle worker hung with posts waiting. Reproduced by holding the first
    cycle just after it added its wake until APScheduler has dealt with that wake."""
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_SUBMITTED

    calls: list[int] = []
    dealt_with = threading.Event()
    second = threading.Event()
    main = threading.get_ident()

    def step() -> datetime | None:
        calls.append(1)
        if len(calls) == 2:
            second.set()
        return datetime.now(UTC) if len(calls) == 1 else None

    queue = JobQueue(step, HOUR, lambda exc: None)
    added: list[datetime] = []

    def listener(event: Any) -> None:
        # APScheduler either ran the new wake or refused it: either way it has dealt with it.
        times = getattr(event, "scheduled_run_times", None) or []
        if added and (event.code == EVENT_JOB_MAX_INSTANCES or added[0] in times):
            dealt_with.set()

    queue._scheduler.add_listener(listener, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_SUBMITTED)
    real_wake_at = queue.wake_at

    def wake_at_then_linger(when: datetime) -> None:
        if threading.get_ident() != main and len(calls) == 1:
            added.append(when)
            real_wake_at(when)
            dealt_with.wait(5)  # still inside the first cycle's job while APScheduler acts
            return
        real_wake_at(when)

    queue.wake_at = wake_at_then_linger  # type: ignore[method-assign]
    queue.start()
    try:
        assert second.wait(5), "the next cycle's wake was dropped: the queue went deaf"
    finally:
        assert queue.shutdown(timeout=5)
