"""The ``chatbot`` command. Every user mistake ends as one clear message and exit code 1.

Commands are loaded when they are run, not when the program starts: a host's ``chatbot chat
pause`` in the middle of a live chat must not wait for the web framework, the platforms'
client libraries, the card renderer and Alembic to load. The table below names each command's
module and short help (``chatbot --help`` loads none of them); a test keeps it equal to the
commands themselves.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import sys
from typing import Any

import click

from chatbot.cli.app import App
from chatbot.errors import UserError

# name -> ("module:attribute", short help)
COMMANDS: dict[str, tuple[str, str]] = {
    "account": (
        "chatbot.cli.engine_cmds:account_group",
        "Pause or resume an account (a paused account posts nothing).",
    ),
    "apply": (
        "chatbot.cli.content_cmds:apply_cmd",
        "Write the plan to the queue in one transaction (a second run changes nothing).",
    ),
    "approve": (
        "chatbot.cli.content_cmds:approve_cmd",
        "Approve a chat, a campaign (by id) or one post (by key or number).",
    ),
    "chat": (
        "chatbot.cli.chat_cmds:chat_group",
        "Steer a live chat while `chatbot run` is running: each control takes effect within a "
        "second, is audited, and is safe to repeat.",
    ),
    "check": (
        "chatbot.cli.content_cmds:check_cmd",
        "Review content against the vision rules; exit 1 on any error.",
    ),
    "db": ("chatbot.cli.ops_cmds:db_group", "Database maintenance."),
    "keys": (
        "chatbot.cli.partner_cmds:keys_group",
        "The key stored tokens are encrypted with (CHATBOT_TOKEN_KEYS).",
    ),
    "partner": (
        "chatbot.cli.partner_cmds:partner_group",
        "Partners connect their own accounts by invite, without sharing secrets.",
    ),
    "plan": (
        "chatbot.cli.content_cmds:plan_cmd",
        "Show what applying content would change in the queue; writes nothing.",
    ),
    "rehearse": (
        "chatbot.cli.chat_cmds:rehearse_cmd",
        "Play CHAT_ID through the dry-run publisher at SPEED times real speed; works before "
        "approval and touches neither the queue nor any account.",
    ),
    "reject": (
        "chatbot.cli.content_cmds:reject_cmd",
        "Reject a chat, a campaign or one post, with a note saying what to change.",
    ),
    "render": (
        "chatbot.cli.render_cmd:render_cmd",
        "Render the graphic cards that content asks for; unchanged cards come from the cache.",
    ),
    "run": (
        "chatbot.cli.engine_cmds:run_cmd",
        "The long-running worker: sends approved posts on time, exactly once.",
    ),
    "settings": (
        "chatbot.cli.ops_cmds:settings_cmd",
        "List every setting with its default and help text.",
    ),
    "settle": (
        "chatbot.cli.engine_cmds:settle_cmd",
        "Settle a failed, unknown or held post: mark it posted, retry it, or cancel it.",
    ),
    "status": (
        "chatbot.cli.ops_cmds:status_cmd",
        "Queue overview: per account, counts by state, next due, anything needing attention.",
    ),
    "user": (
        "chatbot.cli.web_cmds:user_group",
        "Who may sign in to the web app, and with which role.",
    ),
    "web": (
        "chatbot.cli.web_cmds:web_cmd",
        "The organizer web app, for local use (deploy with gunicorn: see the Procfile).",
    ),
}


def _shorten(text: str, limit: int) -> str:
    """The first ``limit`` characters of ``text``, cut at a word, as click shortens help."""
    if len(text) <= limit:
        return text
    return text[: limit - 3].rsplit(" ", 1)[0].rstrip(",:;") + "..."


class _Group(click.Group):
    """Loads a command's module only when that command runs; turns user mistakes and a
    failing database into one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name][0].split(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        limit = formatter.width - 6 - max(len(name) for name, _ in rows)
        with formatter.section("Commands"):
            formatter.write_dl([(name, _shorten(text, limit)) for name, text in rows])

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            ctx.find_object(App).fail(f"error: {exc}")  # type: ignore[union-attr]
            ctx.exit(1)
        except Exception as exc:
            first = _database_failure(exc)
            if first is None:
                raise
            # The database went away mid-command (a server restart, a full disk): one line
            # saying so, not a traceback. The command's transaction was rolled back.
            ctx.find_object(App).fail(  # type: ignore[union-attr]
                f"error: the database failed: {first}; nothing was changed, try again"
            )
            ctx.exit(1)


def _database_failure(exc: Exception) -> str | None:
    """The first line of the database's own error, if ``exc`` is one, else None.

    Looked up, not imported: a command that never opened the database (check) must not load
    SQLAlchemy (a fifth of a second) just to name its exception; the short commands raise
    ``sqlite3``'s or psycopg's own (``chatbot.db.direct``)."""
    errors = sys.modules.get("sqlalchemy.exc")
    if errors is not None and isinstance(exc, errors.OperationalError):
        message = str(exc.orig)
    elif any(
        module is not None and isinstance(exc, module.OperationalError)
        for module in (sys.modules.get("sqlite3"), sys.modules.get("psycopg"))
    ):
        message = str(exc)
    else:
        return None
    return (message.strip().splitlines() or ["unknown error"])[0]


@click.group(cls=_Group)
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="Config file (default: $CHATBOT_CONFIG, ./config.yaml, ./config.example.yaml).",
)
@click.version_option(package_name="chatbot")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """Chat scheduler and content bot for advocacy campaigns."""
    if not isinstance(ctx.obj, App):  # a worker running the command hands its own App
        ctx.obj = App(config_path)
    ctx.call_on_close(ctx.obj.close)


def main() -> None:
    from chatbot.cli import remote

    code = remote.forward(sys.argv[1:])  # a live control, run by the worker when one is running
    if code is not None:
        sys.exit(code)
    if remote.split_global(sys.argv[1:]) is not None:
        _for_a_short_command()
    cli(prog_name="chatbot")


def _for_a_short_command() -> None:
    """For a live control or a status run in its own process: no cyclic garbage collection,
    and no search for pydantic plugins.

    Loading SQLAlchemy's ORM, the models and the settings allocates a few hundred thousand
    long-lived objects and frees almost none of them, so the collector's passes during the
    imports, and its last pass over everything at exit, find nothing; they were a quarter of
    such a command's time (about 130 of 550 ms). These commands are bounded (one chat's posts,
    the queue's counts), so what they leave to the collector is small, and the process ends
    right after. Long commands (``run``, ``web``, ``apply``) keep the collector.
    """
    gc.disable()
    # Frozen objects are skipped by the pass Python makes at exit (atexit runs before it).
    atexit.register(gc.freeze)
    # pydantic looks for plugins in every installed package's metadata before it builds the
    # first model (about 8 ms); the tool uses none. Someone who set the variable keeps theirs.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


if __name__ == "__main__":  # pragma: no cover
    main()
