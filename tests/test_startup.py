"""A host's command starts at once: `chatbot` loads only what the command it runs uses.

Each check runs in a new interpreter, as a host's shell runs the command, because this test
process has long since imported everything."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from chatbot.cli import COMMANDS, cli
from tests.conftest import ROOT

# Modules that cost tens to hundreds of milliseconds to import and that a live control or the
# status overview never needs.
HEAVY = ("tweepy", "atproto", "mastodon", "PIL", "flask", "alembic", "argon2", "apscheduler")

PROBE = """
import json, sys
import click
import chatbot.cli
for name in sys.argv[1:]:
    chatbot.cli.cli.get_command(click.Context(chatbot.cli.cli), name)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def _example_project(folder: Path) -> None:
    shutil.copy(ROOT / "config.example.yaml", folder / "config.yaml")
    shutil.copytree(ROOT / "content", folder / "content")
    shutil.copytree(ROOT / "graphics", folder / "graphics")


def _loaded_after(*commands: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *commands],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(json.loads(out))


def test_importing_the_cli_loads_no_platform_client_renderer_web_or_alembic() -> None:
    assert _loaded_after() & set(HEAVY) == set()


@pytest.mark.parametrize("command", ["chat", "status"])
def test_live_controls_and_status_load_nothing_heavy(command: str) -> None:
    assert _loaded_after(command) & set(HEAVY) == set()


def test_help_loads_no_command_module() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, chatbot.cli as c; sys.argv=['chatbot','--help'];"
            "\ntry:\n    c.main()\nexcept SystemExit:\n    pass\n"
            "print('LOADED', sorted(m for m in sys.modules if m.startswith('chatbot.cli.')))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "rehearse" in result.stdout and "Steer a live chat" in result.stdout
    assert "LOADED ['chatbot.cli.app', 'chatbot.cli.remote']" in result.stdout


def test_asking_a_running_worker_loads_neither_the_database_layer_nor_the_settings(
    tmp_path: Path,
) -> None:
    """A forwarded control (``chatbot.cli.remote``) is click and the standard library: what
    makes `chatbot chat pause` answer in tens of milliseconds while a worker runs."""
    (tmp_path / "config.yaml").write_text("timezone: UTC\n")
    probe = (
        "import json, sys\n"
        "from chatbot.cli.remote import forward\n"
        "assert forward(['chat', 'pause', 'fr-chat']) is None\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    loaded = set(json.loads(out))
    assert loaded & {*HEAVY, "sqlalchemy", "pydantic", "yaml", "rich", "dotenv"} == set()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_lazy_command_table_matches_each_command(name: str) -> None:
    """`chatbot --help` reads the table, not the commands: it must say what each one says."""
    command = cli.get_command(click.Context(cli), name)
    assert isinstance(command, click.Command)
    assert command.name == name
    own_help = " ".join((command.help or "").split("\n\n")[0].split())
    assert own_help == COMMANDS[name][1]


def test_check_reads_content_without_loading_the_database_layer(tmp_path: Path) -> None:
    """`chatbot check` opens no database, so it must not load SQLAlchemy (a fifth of a second)
    even to name the exception the CLI turns into one line."""
    _example_project(tmp_path)
    probe = (
        "import sys\n"
        "from chatbot.cli import cli\n"
        "try:\n"
        "    cli(['check'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('SQLALCHEMY', 'sqlalchemy' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert "posts checked" in result.stderr
    assert "SQLALCHEMY False" in result.stdout


GC_PROBE = """
import gc, sys
from chatbot.cli import main
sys.argv = ['chatbot', *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print('COLLECTOR', gc.isenabled(), file=sys.stderr)
"""


@pytest.mark.parametrize(
    ("argv", "collector"),
    [
        (["status"], False),
        (["chat", "status", "fr-chat"], False),
        (["--config", "config.yaml", "chat", "pause", "fr-chat"], False),
        (["plan"], True),
        (["apply"], True),
    ],
)
def test_only_the_short_commands_run_without_the_garbage_collector(
    tmp_path: Path, argv: list[str], collector: bool
) -> None:
    """A live control or status run in its own process skips cyclic collection (a quarter of
    its time); a bulk command (`apply` of 50,000 posts) or the worker must keep it."""
    _example_project(tmp_path)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "CHATBOT_USER": "test"}
    env.pop("DATABASE_URL", None)
    if argv[0] not in ("plan", "apply"):  # the others read the applied queue
        subprocess.run(
            [sys.executable, "-m", "chatbot", "apply"],
            cwd=tmp_path,
            env=env,
            check=True,
            capture_output=True,
        )
    result = subprocess.run(
        [sys.executable, "-c", GC_PROBE, *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert f"COLLECTOR {collector}" in result.stderr, result.stderr
