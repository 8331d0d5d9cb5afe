"""Content commands on a blast: no pauses of the cyclic garbage collector while they work.

``check``, ``plan``, ``apply``, ``approve`` and ``render`` build hundreds of thousands of small
objects (YAML nodes, posts, findings) that all live until the command ends. CPython's cyclic
collector runs each time a few hundred more have been allocated and, as the heap grows, scans
all of them again and again: measured, about a sixth of a 10,000-post ``check``. Nothing these
commands build needs the cyclic collector to free it before the process exits (reference
counting frees everything else as usual), so it is off while the command runs and back on
after, for a command run inside a longer-lived process (the tests, the worker).
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def bulk(command: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(command)
    def without_collector_pauses(*args: P.args, **kwargs: P.kwargs) -> R:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return command(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return without_collector_pauses
