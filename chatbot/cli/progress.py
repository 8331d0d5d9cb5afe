"""A progress bar for work that turns out to be long.

``check``, ``plan`` and ``apply`` on a blast of tens of thousands of posts take seconds; on a
terminal a person should see that something is happening and how far it got. On a short run
nothing is drawn (a bar that flashes for 200 ms is noise), and when stderr is not a terminal
(cron, CI, a pipe) nothing is ever drawn.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

DELAY = 1.0  # seconds of work before a bar appears


class Steps:
    """Report steps with ``steps(label, done, total)``; close with ``steps.close()``."""

    def __init__(
        self,
        console: Console,
        clock: Callable[[], float] = time.monotonic,
        delay: float | None = None,
    ) -> None:
        self._console = console
        self._clock = clock
        self._started = clock()
        self._delay = DELAY if delay is None else delay
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self.enabled = console.is_terminal

    @property
    def shown(self) -> bool:
        return self._progress is not None

    def __call__(self, label: str, done: int, total: int) -> None:
        if not self.enabled or (
            self._progress is None and self._clock() - self._started < self._delay
        ):
            return
        if self._progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=self._console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(label, total=total)
        assert self._task is not None
        self._progress.update(self._task, description=label, completed=done, total=total)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> Steps:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
