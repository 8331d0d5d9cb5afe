"""Telling a person: an error-level log line always, and Apprise URLs when configured
(a webhook, email, Matrix, ...). Notification failures are logged, never raised: they must not
stop the worker from posting.

``Problems`` keeps a failure that repeats every cycle (a full disk, a database that cannot be
reached) from becoming a message every five seconds: a person is told once per problem and once
when it clears; in between the log says it is still failing, less and less often.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

log = logging.getLogger("chatbot.notify")


class Notifier:
    def __init__(self, urls: Sequence[str] = ()):
        self.urls = list(urls)

    def __call__(self, title: str, body: str, **fields: object) -> None:
        log.error(title, extra={"event": "attention", "detail": body, **fields})
        if not self.urls:
            return
        try:
            import apprise

            sender = apprise.Apprise()
            for url in self.urls:
                sender.add(url)
            if not sender.notify(title=title, body=body):
                log.warning("notification not delivered", extra={"event": "notify.failed"})
        except Exception as exc:  # a broken notifier must not stop posting
            log.warning(
                "notification failed", extra={"event": "notify.failed", "error": type(exc).__name__}
            )


_NUMBERS = re.compile(r"\d+")


def problem_key(exc: BaseException) -> str:
    """What makes two failures the same problem: the error's kind and wording, without the
    numbers that change every time (ports, ids, counts)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {_NUMBERS.sub('#', first)[:200]}"


class Problems:
    """One report per problem, reminders in the log with a growing gap, one report when it
    clears. ``failed`` after each failing cycle, ``succeeded`` after each good one."""

    def __init__(
        self,
        notify: Callable[..., None],
        now: Callable[[], datetime],
        first_reminder: timedelta = timedelta(minutes=1),
        longest_gap: timedelta = timedelta(hours=1),
    ):
        self.notify = notify
        self.now = now
        self.first_reminder = first_reminder
        self.longest_gap = longest_gap
        self.current: str | None = None
        self.since: datetime | None = None
        self.count = 0
        self._gap = first_reminder
        self._next_reminder: datetime | None = None

    def failed(self, exc: BaseException) -> None:
        key = problem_key(exc)
        now = self.now()
        if key != self.current:
            self.current, self.since, self.count = key, now, 1
            self._gap = self.first_reminder
            self._next_reminder = now + self._gap
            log.error(
                "dispatch cycle failed",
                exc_info=exc,
                extra={"event": "worker.error", "problem": key},
            )
            self.notify(
                "The posting worker hit an error",
                f"{type(exc).__name__}: {exc}\nIt retries on its own; you are told again when "
                "it clears.",
            )
            return
        self.count += 1
        if self._next_reminder is not None and now >= self._next_reminder:
            log.warning(
                "still failing",
                extra={
                    "event": "worker.still_failing",
                    "problem": key,
                    "failures": self.count,
                    "since": self.since.isoformat() if self.since else "",
                },
            )
            self._gap = min(self._gap * 2, self.longest_gap)
            self._next_reminder = now + self._gap

    def succeeded(self) -> None:
        if self.current is None:
            return
        now = self.now()
        lasted = now - (self.since or now)
        log.info(
            "problem cleared",
            extra={"event": "worker.recovered", "problem": self.current, "failures": self.count},
        )
        self.notify(
            "The posting worker recovered",
            f"{self.current} cleared after {self.count} failed cycles over "
            f"{int(lasted.total_seconds())} s.",
        )
        self.current, self.since, self.count, self._next_reminder = None, None, 0, None
