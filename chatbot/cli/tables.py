"""The summary tables of ``plan`` and ``apply``, as rich draws them, without rich's cost.

A blast's plan has a row per account and per account and week: rich took a quarter of a
second to lay out the hundred-odd rows of a 10,000-post plan (cell by cell, segment by
segment). Where the output is no terminal (a script, a log, CI) the same characters are
written directly; on a terminal, or for anything this does not draw exactly (text wider than
the console, characters that are not ASCII), rich draws it.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console


def _line(left: str, fill: str, middle: str, right: str, widths: Sequence[int]) -> str:
    return left + middle.join(fill * (width + 2) for width in widths) + right


def _cells(edge: str, cells: Sequence[str], widths: Sequence[int], right: Sequence[bool]) -> str:
    parts = [
        cell.rjust(width) if to_right else cell.ljust(width)
        for cell, width, to_right in zip(cells, widths, right, strict=True)
    ]
    return f"{edge} " + f" {edge} ".join(parts) + f" {edge}"


def plain_table(
    title: str, columns: Sequence[tuple[str, bool]], rows: Sequence[Sequence[str]]
) -> str | None:
    """Rich's default table (heavy head, title on the left): ``columns`` are (header, right
    aligned), every cell one line of ASCII. None for a title wider than the table (rich
    folds it over lines)."""
    headers = [header for header, _ in columns]
    right = [to_right for _, to_right in columns]
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    table = [
        _line("┏", "━", "┳", "┓", widths),
        _cells("┃", headers, widths, right),
        _line("┡", "━", "╇", "┩", widths),
        *(_cells("│", row, widths, right) for row in rows),
        _line("└", "─", "┴", "┘", widths),
    ]
    if len(title) > len(table[0]):
        return None
    return "\n".join([title.ljust(len(table[0])), *table]) + "\n"


def print_table(
    console: Console,
    title: str,
    columns: Sequence[tuple[str, bool]],
    rows: Sequence[Sequence[str]],
) -> None:
    """``rows`` under ``title`` on ``console``: written directly where that is exactly what
    rich would draw, else by rich."""
    cells = [title, *(header for header, _ in columns), *(cell for row in rows for cell in row)]
    # Markup ("[b]") and emoji codes (":x:") in a cell are rich's to read.
    plain = not console.is_terminal and all(
        cell.isascii() and not any(mark in cell for mark in "\n[:") for cell in cells
    )
    if plain:
        text = plain_table(title, columns, rows)
        if text is not None and len(text.split("\n", 1)[0]) <= console.width:
            console.file.write(text)
            console.file.flush()
            return
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for header, to_right in columns:
        table.add_column(header, justify="right" if to_right else "left")
    for row in rows:
        table.add_row(*row)
    console.print(table)
