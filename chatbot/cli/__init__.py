"""The ``chatbot`` command. Every user mistake ends as one clear message and exit code 1."""

from __future__ import annotations

from typing import Any

import click

from chatbot.cli.app import App
from chatbot.cli.chat_cmds import chat_group, rehearse_cmd
from chatbot.cli.content_cmds import apply_cmd, approve_cmd, check_cmd, plan_cmd, reject_cmd
from chatbot.cli.engine_cmds import account_group, run_cmd, settle_cmd
from chatbot.cli.ops_cmds import db_group, settings_cmd, status_cmd
from chatbot.cli.partner_cmds import keys_group, partner_group
from chatbot.cli.render_cmd import render_cmd
from chatbot.cli.web_cmds import user_group, web_cmd
from chatbot.errors import UserError


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        from sqlalchemy.exc import OperationalError

        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            ctx.exit(1)
        except OperationalError as exc:
            # The database went away mid-command (a server restart, a full disk): one line
            # saying so, not a traceback. The command's transaction was rolled back.
            first = (str(exc.orig).strip().splitlines() or ["unknown error"])[0]
            click.secho(
                f"error: the database failed: {first}; nothing was changed, try again",
                fg="red",
                err=True,
            )
            ctx.exit(1)


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
    ctx.obj = App(config_path)
    ctx.call_on_close(ctx.obj.close)


for command in (
    check_cmd,
    plan_cmd,
    apply_cmd,
    approve_cmd,
    reject_cmd,
    render_cmd,
    status_cmd,
    run_cmd,
    chat_group,
    rehearse_cmd,
    account_group,
    settle_cmd,
    db_group,
    settings_cmd,
    web_cmd,
    user_group,
    partner_group,
    keys_group,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="chatbot")


if __name__ == "__main__":  # pragma: no cover
    main()
