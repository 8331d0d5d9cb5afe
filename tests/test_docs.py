"""The README stays true: every setting and command documented, the test command is CI's.
One test item per setting, command and rule kind, so a failure names what is missing."""

from __future__ import annotations

import re

import click
import pytest

from chatbot.cli import cli
from chatbot.cli.ops_cmds import settings_markdown
from chatbot.settings import settings_table
from chatbot.vision.base import RULE_KINDS
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_settings_table_in_readme_is_current() -> None:
    assert settings_markdown() in README, "run `chatbot settings --markdown` and paste it"


@pytest.mark.parametrize("row", settings_table(), ids=lambda row: row["key"])
def test_every_setting_is_documented_with_help(row: dict[str, object]) -> None:
    assert f"`{row['key']}`" in README
    assert row["help"], f"{row['key']} has no help text"


def _commands(group: click.Group, prefix: str = "chatbot") -> list[str]:
    names = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            names.extend(_commands(command, f"{prefix} {name}"))
        else:
            names.append(f"{prefix} {name}")
    return names


COMMANDS = _commands(cli)


def test_there_are_commands_to_document() -> None:
    assert len(COMMANDS) >= 12


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_documented(command: str) -> None:
    assert f"`{command}" in README, f"{command} is missing from the README's command table"


def test_ci_runs_the_readme_test_command() -> None:
    blocks = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    test_command = next(b for b in blocks if "pytest" in b)
    assert test_command in (ROOT / ".ci" / "run").read_text()
    run_command = next(b for b in blocks if "chatbot plan" in b)
    assert "pip install -e ." in run_command


@pytest.mark.parametrize("kind", sorted(RULE_KINDS))
def test_every_rule_kind_is_documented(kind: str) -> None:
    assert f"`{kind}`" in README
