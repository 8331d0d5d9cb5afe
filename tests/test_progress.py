"""Long content commands show a progress bar on a terminal, and only there."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from chatbot.cli import progress
from chatbot.cli.progress import Steps
from tests.conftest import Project


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=80), out


def test_a_long_run_on_a_terminal_shows_the_step_and_how_far() -> None:
    console, out = _console(terminal=True)
    clock = Clock()
    with Steps(console, clock=clock) as steps:
        steps("reading a.yaml", 0, 4)
        assert not steps.shown  # under a second: nothing yet
        clock.now += 1.5
        steps("reviewing: platform.length", 3, 4)
        assert steps.shown
    assert "reviewing: platform.length" in out.getvalue() and "3/4" in out.getvalue()


def test_a_short_run_draws_nothing() -> None:
    console, out = _console(terminal=True)
    clock = Clock()
    with Steps(console, clock=clock) as steps:
        for done in range(10):
            clock.now += 0.05
            steps("reading", done, 10)
    assert out.getvalue() == ""


def test_not_a_terminal_draws_nothing_however_long() -> None:
    console, out = _console(terminal=False)
    clock = Clock()
    with Steps(console, clock=clock) as steps:
        clock.now += 60
        steps("reading", 1, 2)
        assert not steps.shown
    assert out.getvalue() == ""


def test_check_plan_and_apply_in_a_pipe_print_no_bar(
    example: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real commands report their steps past the bar's delay (none here) and, in a pipe,
    print none of them into their output. (That no bar is drawn off a terminal is the test
    above; rich would not draw a transient bar here anyway.)"""
    monkeypatch.setattr(progress, "DELAY", 0.0)
    for command in ("check", "plan", "apply"):
        result = example.run(command)
        assert result.exit_code == 0, result.output
        assert "reading" not in result.output and "reviewing:" not in result.output


def test_content_commands_run_without_collector_pauses_and_restore_it(
    example: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``check`` builds a heap of small objects that live until it ends; the cyclic collector
    would scan them again and again (``chatbot.cli.bulk``). It is off during the command (at
    most one collection, in click's set-up, where a pass-through would let dozens run), and
    back on after it."""
    import gc

    from tests.test_queue import _blast

    example.campaign("blast", _blast(400))

    def collections_during_check() -> int:
        started: list[int] = []

        def record(phase: str, info: dict[str, int]) -> None:
            if phase == "start":
                started.append(info["generation"])

        gc.callbacks.append(record)
        try:
            result = example.run("check")
        finally:
            gc.callbacks.remove(record)
        assert "posts checked" in result.output
        return len(started)

    assert collections_during_check() <= 1
    assert gc.isenabled()
    with monkeypatch.context() as patched:  # the same check with the pause undone
        patched.setattr(gc, "disable", lambda: None)
        assert collections_during_check() > 5
