"""The plan's summary tables, written directly off a terminal: the very characters rich draws."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.table import Table

from chatbot.cli.tables import print_table

COLUMNS = [("account", False), ("add", True), ("queue cost (USD)", True)]
CASES = {
    "rows": [["lfp", "3", "0.100"], ["njla-long-name", "12345", "1.000"]],
    "no rows": [],
    "empty cells": [["", "", ""], ["x", "1", ""]],
    "wide cell": [["a" * 40, "1", "2"]],
}


def drawn_by_rich(title: str, rows: list[list[str]], width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width)
    table = Table(title=title, title_justify="left")
    for header, right in COLUMNS:
        table.add_column(header, justify="right" if right else "left")
    for row in rows:
        table.add_row(*row)
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined]


def drawn(title: str, rows: list[list[str]], width: int = 100, terminal: bool = False) -> str:
    out = io.StringIO()
    print_table(Console(file=out, width=width, force_terminal=terminal), title, COLUMNS, rows)
    return out.getvalue()


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("title", ["plan per account", "a title longer than the whole table is"])
def test_off_a_terminal_the_table_is_what_rich_draws(
    case: str, title: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = drawn_by_rich(title, CASES[case])
    if title == "plan per account":  # drawn without rich (a title too long is rich's)
        monkeypatch.setattr("rich.table.Table", None)
    assert drawn(title, CASES[case]) == expected


def test_what_it_cannot_draw_exactly_is_left_to_rich() -> None:
    """Wider than the console (rich folds it), markup and non-ASCII cells, and a terminal
    (colours and bold): all still come out as rich draws them."""
    wide = [["w" * 90, "1", "2"]]
    assert drawn("t", wide, width=60) == drawn_by_rich("t", wide, width=60)
    for cell in ("[bold]x[/bold]", "café", ":smile:"):
        rows = [[cell, "1", "2"]]
        assert drawn("t", rows) == drawn_by_rich("t", rows)
    on_terminal = drawn("t", CASES["rows"], terminal=True)
    assert "\x1b[" in on_terminal, "rich's styles on a terminal"
